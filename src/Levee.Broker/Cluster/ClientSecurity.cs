using System.Net.Security;

namespace Levee.Broker.Cluster;

/// <summary>
/// How a <see cref="BrokerClient"/> secures its connections: TLS (options made per host, so a rotated certificate is
/// presented at once) and, after it, a SASL login. Brokers use TLS alone; the CLI takes both from --command-config.
/// </summary>
public sealed class ClientSecurity
{
    /// <summary>The TLS client options for a host, or null for a plain connection.</summary>
    public Func<string, SslClientAuthenticationOptions>? Tls { get; init; }

    /// <summary>The SASL login after connecting, or null.</summary>
    public SaslLogin? Sasl { get; init; }
}

/// <summary>A SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and credentials. Not a record: its text never shows the password.</summary>
public sealed class SaslLogin(string mechanism, string username, string password)
{
    /// <summary>The mechanism, as SaslHandshake names it.</summary>
    public string Mechanism { get; } = mechanism;

    /// <summary>The user.</summary>
    public string Username { get; } = username;

    /// <summary>The password.</summary>
    public string Password { get; } = password;

    /// <inheritdoc />
    public override string ToString() => $"{Mechanism} as {Username}";
}
