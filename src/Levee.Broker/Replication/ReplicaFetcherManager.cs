using System.Collections.Concurrent;
using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Replication;

/// <summary>
/// Runs one <see cref="ReplicaFetcher"/> per leader this broker follows partitions of, as Kafka's
/// replica fetcher threads do (but as async loops), and re-plans them whenever the metadata image
/// changes leadership.
/// </summary>
public sealed class ReplicaFetcherManager : IAsyncDisposable
{
    private int _disposeCount;
    private readonly ReplicaManager _replicas;
    private readonly BrokerOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly string _interBrokerListener;
    private readonly ConcurrentDictionary<int, ReplicaFetcher> _fetchers = new();
    private readonly Lock _lock = new();
    private bool _disposed;

    /// <summary>Follows the replica manager's partitions from now on, fetching from leaders on <paramref name="interBrokerListener"/>.</summary>
    public ReplicaFetcherManager(ReplicaManager replicas, BrokerOptions options, string interBrokerListener, ILoggerFactory loggerFactory)
    {
        _interBrokerListener = interBrokerListener;
        ArgumentNullException.ThrowIfNull(replicas);
        _replicas = replicas;
        _options = options;
        _loggerFactory = loggerFactory;
        replicas.PartitionsChanged += (_, _) => Reconcile();
        Reconcile();
    }

    /// <summary>Matches the fetchers to the partitions this broker follows now.</summary>
    public void Reconcile()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            var image = _replicas.Image;
            var byLeader = _replicas.Partitions
                .Where(p => !p.IsLeader && p.LeaderId >= 0)
                .GroupBy(p => p.LeaderId)
                .ToDictionary(g => g.Key, g => g.ToList());
            foreach (var (leader, partitions) in byLeader)
            {
                if (!image.Brokers.TryGetValue(leader, out var broker) || broker.EndPoint(_interBrokerListener) is not { } endpoint)
                {
                    continue;
                }

                if (_fetchers.TryGetValue(leader, out var existing) && existing.Address != $"{endpoint.Host}:{endpoint.Port}")
                {
                    _fetchers.TryRemove(leader, out _);
                    _ = existing.DisposeAsync().AsTask();
                    existing = null;
                }

                existing ??= _fetchers.GetOrAdd(leader, _ => new ReplicaFetcher(
                    new BrokerClient(endpoint.Host, endpoint.Port, $"levee-replica-{_options.NodeId}"),
                    _options,
                    _loggerFactory.CreateLogger<ReplicaFetcher>()));
                existing.SetPartitions(partitions);
            }

            foreach (var leader in _fetchers.Keys.Where(l => !byLeader.ContainsKey(l)).ToList())
            {
                if (_fetchers.TryRemove(leader, out var idle))
                {
                    _ = idle.DisposeAsync().AsTask();
                }
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // The host disposes its singletons again after the broker's ordered shutdown.
        if (Interlocked.Exchange(ref _disposeCount, 1) != 0)
        {
            return;
        }

        lock (_lock)
        {
            _disposed = true;
        }

        foreach (var fetcher in _fetchers.Values)
        {
            await fetcher.DisposeAsync().ConfigureAwait(false);
        }

        _fetchers.Clear();
    }
}
