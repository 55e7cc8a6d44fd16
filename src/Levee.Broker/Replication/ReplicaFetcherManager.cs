using System.Collections.Concurrent;
using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Security;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Replication;

/// <summary>
/// Runs one <see cref="ReplicaFetcher"/> per leader this broker follows partitions of, as Kafka's
/// replica fetcher threads do (but as async loops), and re-plans them whenever the metadata image
/// changes leadership. A watchdog replaces any fetcher that stopped, hangs, or leaves a partition
/// without progress while its leader has records for it, and says so in the log.
/// </summary>
public sealed partial class ReplicaFetcherManager : IAsyncDisposable
{
    private int _disposeCount;
    private readonly ReplicaManager _replicas;
    private readonly BrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly string _interBrokerListener;
    private readonly ConcurrentDictionary<int, ReplicaFetcher> _fetchers = new();
    private readonly List<Task> _retiring = [];
    private readonly BrokerTls? _tls;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _watchdog;
    private bool _disposed;

    /// <summary>Follows the replica manager's partitions from now on, fetching from leaders on <paramref name="interBrokerListener"/>.</summary>
    /// <remarks>With <paramref name="tls"/>, leaders whose inter-broker listener is SSL are fetched from over TLS.</remarks>
    public ReplicaFetcherManager(ReplicaManager replicas, BrokerOptions options, string interBrokerListener, TimeProvider time, ILoggerFactory loggerFactory, BrokerTls? tls = null)
    {
        _interBrokerListener = interBrokerListener;
        _tls = tls;
        ArgumentNullException.ThrowIfNull(replicas);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _replicas = replicas;
        _options = options;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ReplicaFetcherManager>();
        replicas.PartitionsChanged += (_, _) => Reconcile();
        Reconcile();
        _watchdog = WatchAsync(_stopping.Token);
    }

    // A fetch round lasts at most its max wait plus the socket timeout; one not started for longer hangs.
    private long StuckAfterMs => _options.ReplicaFetchWaitMaxMs + _options.ReplicaSocketTimeoutMs + 10_000L;

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
                    Retire(leader);
                    existing = null;
                }

                existing ??= _fetchers.GetOrAdd(leader, _ => new ReplicaFetcher(
                    BrokerClient.ForEndpoint(endpoint, $"levee-replica-{_options.NodeId}", TimeSpan.FromMilliseconds(_options.ReplicaFetchWaitMaxMs + _options.ReplicaSocketTimeoutMs), _tls),
                    _options,
                    _time,
                    _loggerFactory.CreateLogger<ReplicaFetcher>()));
                existing.SetPartitions(partitions);
            }

            foreach (var leader in _fetchers.Keys.Where(l => !byLeader.ContainsKey(l)).ToList())
            {
                Retire(leader);
            }
        }
    }

    // Under _lock. The fetcher stops in the background; shutdown waits for it before the logs close.
    private void Retire(int leader)
    {
        if (_fetchers.TryRemove(leader, out var fetcher))
        {
            _retiring.RemoveAll(t => t.IsCompleted);
            _retiring.Add(fetcher.DisposeAsync().AsTask());
        }
    }

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(_options.ReplicaLagTimeMaxMs / 4, 250, 5_000)), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var unhealthy = false;
                lock (_lock)
                {
                    foreach (var (leader, fetcher) in _fetchers)
                    {
                        if (!fetcher.IsHealthy(StuckAfterMs))
                        {
                            LogReplacingFetcher(leader, fetcher.Address);
                            Retire(leader);
                            unhealthy = true;
                        }
                    }
                }

                if (unhealthy)
                {
                    Reconcile();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
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

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _watchdog.ConfigureAwait(false);
        List<Task> stopping;
        lock (_lock)
        {
            _disposed = true;
            foreach (var leader in _fetchers.Keys.ToList())
            {
                Retire(leader);
            }

            stopping = [.. _retiring];
            _retiring.Clear();
        }

        // Every fetcher, retired earlier or now, has stopped applying batches before the logs close.
        await Task.WhenAll(stopping).ConfigureAwait(false);
        _stopping.Dispose();
    }

    [LoggerMessage(EventName = "ReplacingFetcher", Level = LogLevel.Warning, Message = "Replica fetcher for leader {Leader} at {Address} stopped, hangs, or leaves a partition behind: replacing it")]
    private partial void LogReplacingFetcher(int leader, string address);
}
