using System.Collections.Immutable;
using Levee.Cluster.Metadata;

namespace Levee.Broker;

/// <summary>Who this broker is and where it is reached; the ports are known once the listeners are bound.</summary>
public sealed class BrokerIdentity(int nodeId, string host, string interBrokerListener)
{
    /// <summary>node.id.</summary>
    public int NodeId { get; } = nodeId;

    /// <summary>Advertised host of the client listener (the first listener that is not the inter-broker one).</summary>
    public string Host { get; } = host;

    /// <summary>Advertised port of the client listener, the bound one unless advertised.listeners says otherwise.</summary>
    public int Port { get; set; }

    /// <summary>
    /// The listener other brokers reach this one on, and this one reaches them on: inter.broker.listener.name (a
    /// single broker without one names its only listener; nothing dials it as a broker).
    /// </summary>
    public string InterBrokerListener { get; } = interBrokerListener;

    /// <summary>The advertised endpoint of every listener, registered with the controller.</summary>
    public ImmutableArray<BrokerEndpoint> Endpoints { get; set; } = [];

    /// <summary>
    /// This process's incarnation (Kafka's broker incarnation id): a metadata image that holds a registration
    /// with it was committed after this start, so it holds every decision committed before.
    /// </summary>
    public Guid IncarnationId { get; } = Guid.NewGuid();
}
