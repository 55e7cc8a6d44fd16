using System.Security.Cryptography;
using System.Text;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Security;

/// <summary>
/// SCRAM's key derivations (RFC 5802 section 3), for SCRAM-SHA-256 (RFC 7677) and SCRAM-SHA-512 as Kafka
/// uses them: SaltedPassword = PBKDF2(password, salt, i), ClientKey = HMAC(SaltedPassword, "Client Key"),
/// StoredKey = H(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key"). Only StoredKey and ServerKey are
/// ever stored.
/// </summary>
public static class ScramFormatter
{
    /// <summary>Kafka's minimum iteration count for SCRAM credentials.</summary>
    public const int MinIterations = 4096;

    /// <summary>Kafka's maximum iteration count for SCRAM credentials.</summary>
    public const int MaxIterations = 16384;

    /// <summary>The SASL mechanism name of <paramref name="mechanism"/> (SCRAM-SHA-256, SCRAM-SHA-512).</summary>
    public static string MechanismName(ScramMechanism mechanism) => mechanism switch
    {
        ScramMechanism.ScramSha256 => "SCRAM-SHA-256",
        ScramMechanism.ScramSha512 => "SCRAM-SHA-512",
        _ => throw new ArgumentOutOfRangeException(nameof(mechanism), mechanism, "not a SCRAM mechanism"),
    };

    /// <summary>The mechanism named <paramref name="name"/>, or <see cref="ScramMechanism.Unknown"/>.</summary>
    public static ScramMechanism Parse(string? name) => name switch
    {
        "SCRAM-SHA-256" => ScramMechanism.ScramSha256,
        "SCRAM-SHA-512" => ScramMechanism.ScramSha512,
        _ => ScramMechanism.Unknown,
    };

    /// <summary>A new credential for <paramref name="password"/> with a random salt.</summary>
    public static UserScramCredentialRecord CreateCredential(string user, ScramMechanism mechanism, string password, int iterations = MinIterations)
    {
        var salt = RandomNumberGenerator.GetBytes(32);
        return CreateCredential(user, mechanism, Encoding.UTF8.GetBytes(password), salt, iterations);
    }

    /// <summary>The credential for a password given as UTF-8 bytes, with the given salt (used by AlterUserScramCredentials, whose clients salt and hash).</summary>
    public static UserScramCredentialRecord CreateCredential(string user, ScramMechanism mechanism, ReadOnlySpan<byte> password, byte[] salt, int iterations)
    {
        ArgumentNullException.ThrowIfNull(salt);
        var salted = SaltedPassword(mechanism, password, salt, iterations);
        return FromSaltedPassword(user, mechanism, salted, salt, iterations);
    }

    /// <summary>The credential whose SaltedPassword is <paramref name="saltedPassword"/> (Kafka's AlterUserScramCredentials sends it).</summary>
    public static UserScramCredentialRecord FromSaltedPassword(string user, ScramMechanism mechanism, ReadOnlySpan<byte> saltedPassword, byte[] salt, int iterations)
    {
        var clientKey = Hmac(mechanism, saltedPassword, "Client Key"u8);
        return new UserScramCredentialRecord(user, mechanism, salt, Hash(mechanism, clientKey), Hmac(mechanism, saltedPassword, "Server Key"u8), iterations);
    }

    /// <summary>PBKDF2 with the mechanism's HMAC.</summary>
    public static byte[] SaltedPassword(ScramMechanism mechanism, ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashName(mechanism), HashSize(mechanism));

    /// <summary>HMAC with the mechanism's hash.</summary>
    public static byte[] Hmac(ScramMechanism mechanism, ReadOnlySpan<byte> key, ReadOnlySpan<byte> data) => mechanism == ScramMechanism.ScramSha512
        ? HMACSHA512.HashData(key, data)
        : HMACSHA256.HashData(key, data);

    /// <summary>The mechanism's hash.</summary>
    public static byte[] Hash(ScramMechanism mechanism, ReadOnlySpan<byte> data) => mechanism == ScramMechanism.ScramSha512
        ? SHA512.HashData(data)
        : SHA256.HashData(data);

    /// <summary>
    /// True when <paramref name="password"/> is the one <paramref name="credential"/> was made from: PLAIN
    /// authentication is checked this way, against the same stored credential, in constant time.
    /// </summary>
    public static bool Verify(UserScramCredentialRecord credential, ReadOnlySpan<byte> password)
    {
        ArgumentNullException.ThrowIfNull(credential);
        var salted = SaltedPassword(credential.Mechanism, password, credential.Salt, credential.Iterations);
        var storedKey = Hash(credential.Mechanism, Hmac(credential.Mechanism, salted, "Client Key"u8));
        return CryptographicOperations.FixedTimeEquals(storedKey, credential.StoredKey);
    }

    private static HashAlgorithmName HashName(ScramMechanism mechanism) =>
        mechanism == ScramMechanism.ScramSha512 ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256;

    private static int HashSize(ScramMechanism mechanism) => mechanism == ScramMechanism.ScramSha512 ? 64 : 32;

    /// <summary>The attributes (a=value) of a SCRAM message, extensions with longer keys skipped; null when a part is not an attribute.</summary>
    public static Dictionary<char, string>? Attributes(string text)
    {
        var result = new Dictionary<char, string>();
        foreach (var part in text.Split(','))
        {
            if (part.Length < 2 || part[1] != '=')
            {
                if (part.Contains('=', StringComparison.Ordinal))
                {
                    continue; // An extension (key=value with a longer key).
                }

                return null;
            }

            result.TryAdd(part[0], part[2..]);
        }

        return result;
    }
}
