using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Confluent.Kafka;
using Levee.Broker.Cluster;
using Levee.Commands.Clusters;

namespace Levee.Commands;

/// <summary>
/// `--command-config FILE`, as Kafka's tools take it: a properties file of client settings with librdkafka's names
/// (security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ...), applied to the admin
/// client a command uses, or to Levee's own protocol client for the commands that use it. Lines are key=value; blank
/// lines and lines starting with # or ! are ignored.
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
        foreach (var (key, value) in Read(path))
        {
            config.Set(key, value);
        }

        return config;
    }

    /// <summary>
    /// The same settings for the commands that speak the Kafka protocol with Levee's own client: security.protocol
    /// (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
    /// sasl.username, sasl.password, ssl.ca.location, ssl.certificate.location, ssl.key.location, ssl.key.password and
    /// ssl.endpoint.identification.algorithm (https by default, as librdkafka: the broker's certificate must name
    /// the host). Null without a file, or for PLAINTEXT.
    /// </summary>
    /// <exception cref="ClusterCommandException">The file cannot be read, or a setting is missing or not understood.</exception>
    public static ClientSecurity? Security(string? path)
    {
        var settings = Read(path).ToDictionary(p => p.Key.ToLowerInvariant(), p => p.Value, StringComparer.Ordinal);
        var protocol = settings.GetValueOrDefault("security.protocol", "plaintext").ToUpperInvariant();
        if (protocol is not ("PLAINTEXT" or "SSL" or "SASL_PLAINTEXT" or "SASL_SSL"))
        {
            throw new ClusterCommandException($"--command-config {path}: security.protocol '{protocol}' is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.");
        }

        SaslLogin? sasl = null;
        if (protocol.StartsWith("SASL_", StringComparison.Ordinal))
        {
            var mechanism = (settings.GetValueOrDefault("sasl.mechanism") ?? settings.GetValueOrDefault("sasl.mechanisms") ?? "GSSAPI").ToUpperInvariant();
            if (mechanism is not ("PLAIN" or "SCRAM-SHA-256" or "SCRAM-SHA-512"))
            {
                throw new ClusterCommandException($"--command-config {path}: sasl.mechanism '{mechanism}' is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.");
            }

            if (settings.GetValueOrDefault("sasl.username") is not { } user || settings.GetValueOrDefault("sasl.password") is not { } password)
            {
                throw new ClusterCommandException($"--command-config {path}: {protocol} needs sasl.username and sasl.password.");
            }

            sasl = new SaslLogin(mechanism, user, password);
        }

        Func<string, SslClientAuthenticationOptions>? tls = protocol.EndsWith("SSL", StringComparison.Ordinal) ? Tls(path, settings) : null;
        return tls is null && sasl is null ? null : new ClientSecurity { Tls = tls, Sasl = sasl };
    }

    private static Func<string, SslClientAuthenticationOptions> Tls(string? path, Dictionary<string, string> settings)
    {
        var verifyHost = settings.GetValueOrDefault("ssl.endpoint.identification.algorithm", "https").Length > 0;
        X509Certificate2Collection? authorities = null;
        X509Certificate2? certificate = null;
        try
        {
            if (settings.GetValueOrDefault("ssl.ca.location") is { } ca)
            {
                authorities = [];
                authorities.ImportFromPemFile(ca);
            }

            if (settings.GetValueOrDefault("ssl.certificate.location") is { } cert)
            {
                var key = settings.GetValueOrDefault("ssl.key.location");
                certificate = settings.GetValueOrDefault("ssl.key.password") is { } keyPassword
                    ? X509Certificate2.CreateFromEncryptedPemFile(cert, keyPassword, key)
                    : X509Certificate2.CreateFromPemFile(cert, key);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ClusterCommandException($"--command-config {path}: a TLS file cannot be read: {e.Message}");
        }

        return host => new SslClientAuthenticationOptions
        {
            TargetHost = host,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificates = certificate is null ? null : [certificate],
            RemoteCertificateValidationCallback = (_, served, chain, errors) => Trusted(served, chain, errors, authorities, verifyHost),
        };
    }

    /// <summary>Whether the broker's certificate chains to ssl.ca.location's CAs (else the system's) and, unless disabled, names the host.</summary>
    private static bool Trusted(X509Certificate? served, X509Chain? sent, SslPolicyErrors errors, X509Certificate2Collection? authorities, bool verifyHost)
    {
        if (served is null || (verifyHost && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0))
        {
            return false;
        }

        if (authorities is null)
        {
            return (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        foreach (var element in sent?.ChainElements.Skip(1) ?? [])
        {
            chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }

        return chain.Build(served as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(served.GetRawCertData()));
    }

    /// <summary>The key=value lines of <paramref name="path"/> (none without a file).</summary>
    private static List<KeyValuePair<string, string>> Read(string? path)
    {
        var result = new List<KeyValuePair<string, string>>();
        if (path is null)
        {
            return result;
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

            result.Add(new(line[..eq].Trim(), line[(eq + 1)..].Trim()));
        }

        return result;
    }
}
