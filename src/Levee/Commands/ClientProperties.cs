using Confluent.Kafka;
using Levee.Commands.Clusters;

namespace Levee.Commands;

/// <summary>
/// `--command-config FILE`, as Kafka's tools take it: a properties file of client settings with librdkafka's names
/// (security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ...), applied to the admin
/// client a command uses. Lines are key=value; blank lines and lines starting with # or ! are ignored.
/// </summary>
internal static class ClientProperties
{
    /// <summary>The option, for any command that talks to a broker.</summary>
    public static System.CommandLine.Option<string?> Option() => new("--command-config") { Description = "A properties file of client settings (librdkafka names: security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ...)." };

    /// <summary>Applies the settings of <paramref name="path"/> (if given) to <paramref name="config"/>.</summary>
    /// <exception cref="ClusterCommandException">The file cannot be read or a line is not key=value.</exception>
    public static T Apply<T>(T config, string? path)
        where T : ClientConfig
    {
        ArgumentNullException.ThrowIfNull(config);
        if (path is null)
        {
            return config;
        }

        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ClusterCommandException($"--command-config {path}: {e.Message}");
        }

        foreach (var (line, number) in lines.Select((l, i) => (l.Trim(), i + 1)))
        {
            if (line.Length == 0 || line[0] is '#' or '!')
            {
                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                // The line may hold a secret: name only its number.
                throw new ClusterCommandException($"--command-config {path}: line {number} is not key=value.");
            }

            config.Set(line[..eq].Trim(), line[(eq + 1)..].Trim());
        }

        return config;
    }
}
