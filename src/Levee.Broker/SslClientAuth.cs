namespace Levee.Broker;

/// <summary>Kafka's ssl.client.auth: whether a TLS listener asks clients for a certificate.</summary>
public enum SslClientAuth
{
    /// <summary>No client certificate is asked for; clients are <c>User:ANONYMOUS</c>.</summary>
    None,

    /// <summary>A certificate is asked for but not needed; one presented must be valid.</summary>
    Requested,

    /// <summary>A valid certificate is needed: a client without one is refused in the handshake.</summary>
    Required,
}
