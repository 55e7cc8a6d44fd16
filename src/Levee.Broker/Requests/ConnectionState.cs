using System.Net;
using Levee.Broker.Network;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Requests;

/// <summary>
/// What the broker knows about one connection, for as long as it is open: the listener it came in on and who is
/// on the other end. Every request of the connection carries it (<see cref="RequestContext.Connection"/>). Its
/// tenant namespace lives here too, so a request never has to look it up.
/// </summary>
public sealed class ConnectionState
{
    /// <summary>A connection accepted on <paramref name="listener"/> from <paramref name="remoteEndPoint"/>.</summary>
    public ConnectionState(KafkaListener listener, EndPoint? remoteEndPoint)
    {
        ArgumentNullException.ThrowIfNull(listener);
        Listener = listener;
        RemoteEndPoint = remoteEndPoint;
        IsAuthenticated = !listener.RequiresSasl;
    }

    /// <summary>The listener the connection came in on.</summary>
    public KafkaListener Listener { get; }

    /// <summary>The remote end of the connection.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>Who sent the requests: <c>User:ANONYMOUS</c> on a PLAINTEXT listener, as in Kafka; the SASL user once authenticated.</summary>
    public KafkaPrincipal Principal { get; private set; } = KafkaPrincipal.Anonymous;

    /// <summary>
    /// Whether requests other than ApiVersions and the SASL ones may be served: at once on a listener without SASL,
    /// after a successful SaslAuthenticate on a SASL listener.
    /// </summary>
    public bool IsAuthenticated { get; private set; }

    /// <summary>When the SASL session ends (KIP-368, connections.max.reauth.ms), in Unix milliseconds; null: never.</summary>
    public long? SessionExpiresAtMs { get; private set; }

    /// <summary>Set by a handler whose answer must be the connection's last (a failed authentication).</summary>
    public bool CloseAfterResponse { get; set; }

    /// <summary>The SASL exchange in progress on this connection, if any.</summary>
    public SaslSession? Sasl { get; set; }

    /// <summary>
    /// The namespace of the tenant the principal belongs to, bound when it authenticated: every name of its requests
    /// and responses is mapped through it. Null for principals of no tenant (operators, brokers), who see real names.
    /// </summary>
    public TenantNamespace? Tenant { get; private set; }

    /// <summary>
    /// Records a successful authentication: requests are served as <paramref name="principal"/> from now on, in the
    /// namespace of <paramref name="tenant"/> when it is a tenant's.
    /// </summary>
    public void Authenticate(KafkaPrincipal principal, long? sessionExpiresAtMs, Tenant? tenant)
    {
        ArgumentNullException.ThrowIfNull(principal);
        Principal = principal;
        if (tenant is not null && Tenant?.Tenant.Name != tenant.Name)
        {
            Tenant = new TenantNamespace(tenant);
        }

        SessionExpiresAtMs = sessionExpiresAtMs;
        IsAuthenticated = true;
    }

    /// <summary>
    /// Records who the other end proved to be with its TLS client certificate (mapped). On a SASL_SSL listener the
    /// connection still has to authenticate with SASL, which then names the principal.
    /// </summary>
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
