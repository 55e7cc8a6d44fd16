namespace Levee.Broker;

/// <summary>Who this broker is and where clients reach it; the port is known once the listener is bound.</summary>
public sealed class BrokerIdentity(int nodeId, string host)
{
    /// <summary>node.id.</summary>
    public int NodeId { get; } = nodeId;

    /// <summary>Advertised host.</summary>
    public string Host { get; } = host;

    /// <summary>Advertised port, the bound one.</summary>
    public int Port { get; set; }

    /// <summary>
    /// This process's incarnation (Kafka's broker incarnation id): a metadata image that holds a registration
    /// with it was committed after this start, so it holds every decision committed before.
    /// </summary>
    public Guid IncarnationId { get; } = Guid.NewGuid();
}
