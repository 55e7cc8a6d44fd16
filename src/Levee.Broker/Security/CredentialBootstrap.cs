using System.Text.Json;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Security;

/// <summary>
/// SCRAM credentials written into a data directory before its broker first starts (`levee users set --data-dir`,
/// Kafka's `kafka-storage format --add-scram`), so that a cluster whose listeners all require SASL can be reached
/// at all. The file holds salted, iterated credentials only, never a password. The active controller commits the
/// entries the metadata image lacks and removes the file; a broker whose entries are all in the image removes it too.
/// </summary>
public static class CredentialBootstrap
{
    /// <summary>The file's name in the data directory.</summary>
    public const string FileName = "scram-credentials.bootstrap";

    /// <summary>Adds (or replaces) <paramref name="credential"/> in <paramref name="dataDir"/>'s bootstrap file.</summary>
    public static void Write(string dataDir, UserScramCredentialRecord credential)
    {
        ArgumentNullException.ThrowIfNull(credential);
        Directory.CreateDirectory(dataDir);
        var entries = Read(dataDir).Where(c => c.Name != credential.Name || c.Mechanism != credential.Mechanism).Append(credential).Select(Entry.From).ToList();
        var path = Path.Combine(dataDir, FileName);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(entries));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>The credentials waiting in <paramref name="dataDir"/>'s bootstrap file (none when there is no file).</summary>
    /// <exception cref="InvalidDataException">The file is not a bootstrap file.</exception>
    public static IReadOnlyList<UserScramCredentialRecord> Read(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        if (!File.Exists(path))
        {
            return [];
        }

        try
        {
            return [.. (JsonSerializer.Deserialize<List<Entry>>(File.ReadAllText(path)) ?? []).Select(e => e.ToRecord())];
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw new InvalidDataException($"{path} is not a SCRAM credential bootstrap file: {e.Message}", e);
        }
    }

    /// <summary>The records that put the file's credentials the image lacks into it.</summary>
    public static IReadOnlyList<MetadataRecord> Missing(MetadataImage image, IEnumerable<UserScramCredentialRecord> credentials)
    {
        ArgumentNullException.ThrowIfNull(image);
        return [.. credentials.Where(c => !image.ScramCredentials.ContainsKey(new ScramCredentialKey(c.Name, c.Mechanism)))];
    }

    /// <summary>Removes the bootstrap file.</summary>
    public static void Remove(string dataDir) => File.Delete(Path.Combine(dataDir, FileName));

    private sealed record Entry(string User, string Mechanism, string Salt, string StoredKey, string ServerKey, int Iterations)
    {
        public static Entry From(UserScramCredentialRecord r) => new(
            r.Name, ScramFormatter.MechanismName(r.Mechanism), Convert.ToBase64String(r.Salt), Convert.ToBase64String(r.StoredKey), Convert.ToBase64String(r.ServerKey), r.Iterations);

        public UserScramCredentialRecord ToRecord() => new(
            User, ScramFormatter.Parse(Mechanism), Convert.FromBase64String(Salt), Convert.FromBase64String(StoredKey), Convert.FromBase64String(ServerKey), Iterations);
    }
}
