using System.Net;
using Levee.Broker.Network;
using Levee.Broker.Security;

namespace Levee.Broker.Requests;

/// <summary>
/// What the broker knows about one connection, for as long as it is open: the listener it came in on and who is
/// on the other end. Every request of the connection carries it (<see cref="RequestContext.Connection"/>). The
/// tenant and quota state of a connection will live here too (issue 11), so a request never has to look it up.
/// </summary>
public sealed class ConnectionState
{
    /// <summary>A connection accepted on <paramref name="listener"/> from <paramref name="remoteEndPoint"/>.</summary>
    public ConnectionState(KafkaListener listener, EndPoint? remoteEndPoint)
    {
        ArgumentNullException.ThrowIfNull(listener);
        Listener = listener;
        RemoteEndPoint = remoteEndPoint;
    }

    /// <summary>The listener the connection came in on.</summary>
    public KafkaListener Listener { get; }

    /// <summary>The remote end of the connection.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>
    /// Who sends the requests: <c>User:ANONYMOUS</c> until the connection authenticates (always on a PLAINTEXT
    /// listener, as in Kafka).
    /// </summary>
    public KafkaPrincipal Principal { get; private set; } = KafkaPrincipal.Anonymous;

    /// <summary>Records who the other end proved to be (its TLS client certificate, mapped).</summary>
    public void Authenticate(KafkaPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        Principal = principal;
    }

    /// <summary>
    /// Whether the other end is a broker of this cluster, allowed CLUSTER_ACTION. On PLAINTEXT nothing is
    /// authenticated, so it is whoever reaches the inter-broker listener: that listener must be reachable by brokers
    /// only (see docs/security.md).
    /// </summary>
    public bool IsBroker => Listener.IsInterBroker;

    /// <summary>The remote end as text, for log lines.</summary>
    public string? Remote => RemoteEndPoint?.ToString();
}
