using Levee.Broker.Security;
using Levee.Cluster.Quorum;

namespace Levee.Broker.Cluster;

/// <summary>
/// The connection from this broker to the active controller, for requests only the controller
/// serves (registration, heartbeats, ISR changes, producer id blocks). The controller is the
/// quorum leader; its Kafka endpoint is in its own broker registration. The connection follows
/// the controller when it moves.
/// </summary>
public sealed class ControllerChannel(MetadataQuorum quorum, BrokerOptions options, BrokerIdentity identity, BrokerTls? tls = null) : IAsyncDisposable
{
    /// <summary>
    /// The longest any one request to the controller may take, waiting for this one-at-a-time connection
    /// included. A forwarded admin request gives the controller 30 s (its TimeoutMs); this bound is longer, so
    /// the controller's own answer comes first, while a controller that never answers (paused, cut off) no
    /// longer holds that request, and every request queued behind it, forever. Heartbeats and ISR changes
    /// have shorter bounds of their own (<see cref="BrokerLifecycle.ControllerRequestTimeout"/>).
    /// </summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(40);

    private readonly Lock _lock = new();
    private BrokerClient? _client;
    private bool _disposed;

    /// <summary>
    /// A client for the active controller, or null while none is known or registered, or when the quorum
    /// names this node: a broker never sends controller requests to itself (when it is the active controller
    /// its callers use <see cref="ControllerService"/> directly). Such a request would come back to this
    /// broker's own listener, be forwarded again over this same one-request-at-a-time connection, and wait
    /// for itself.
    /// </summary>
    public BrokerClient? Client()
    {
        if (quorum.LeaderId is not { } leader || leader == options.NodeId || !quorum.Current.Brokers.TryGetValue(leader, out var registration) || registration.EndPoint(identity.InterBrokerListener) is not { } endpoint)
        {
            return null;
        }

        BrokerClient? previous = null;
        lock (_lock)
        {
            if (_disposed)
            {
                return null;
            }

            if (_client is null || _client.Address != $"{endpoint.Host}:{endpoint.Port}")
            {
                previous = _client;
                _client = BrokerClient.ForEndpoint(endpoint, $"levee-broker-{options.NodeId}", RequestTimeout, tls);
            }

            var current = _client;
            if (previous is not null)
            {
                // Calls in flight on the old connection finish or fail on their own.
                _ = previous.DisposeAsync().AsTask();
            }

            return current;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        BrokerClient? client;
        lock (_lock)
        {
            _disposed = true;
            client = _client;
            _client = null;
        }

        if (client is not null)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }
}
