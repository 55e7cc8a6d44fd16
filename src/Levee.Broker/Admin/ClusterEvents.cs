using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;

namespace Levee.Broker.Admin;

/// <summary>A partition's leader changed: to another broker (an election) or to none (offline).</summary>
/// <param name="At">When this broker applied the change.</param>
/// <param name="Topic">The topic.</param>
/// <param name="Partition">The partition.</param>
/// <param name="PreviousLeader">The leader before, -1 if it was offline.</param>
/// <param name="Leader">The leader now, -1 if offline.</param>
/// <param name="LeaderEpoch">The leader epoch now.</param>
public sealed record LeaderChange(DateTimeOffset At, string Topic, int Partition, int PreviousLeader, int Leader, int LeaderEpoch);

/// <summary>
/// What changed in the cluster, read from successive metadata images as this broker applies them: leader elections, ISR
/// shrinks and expansions (counted, as Kafka's controller counts them), and the latest leader changes for the
/// dashboard. Every broker applies the same log, so every broker counts the same changes from the time it started; a
/// change is counted once per image that shows it, not per record.
/// </summary>
public sealed class ClusterEvents
{
    /// <summary>How many leader changes <see cref="Recent"/> keeps.</summary>
    public const int RecentCapacity = 100;

    private readonly Lock _lock = new();
    private readonly Queue<LeaderChange> _recent = new();
    private readonly MetadataQuorum _quorum;
    private readonly TimeProvider _time;
    private long _elections;
    private long _isrShrinks;
    private long _isrExpands;

    /// <summary>Reads the images of <paramref name="quorum"/> once <see cref="Start"/> is called.</summary>
    public ClusterEvents(MetadataQuorum quorum, TimeProvider time)
    {
        _quorum = quorum;
        _time = time;
    }

    /// <summary>
    /// Follows the images applied from now on: called once the metadata log is recovered, so that the history it
    /// replays at start is not counted (nor shown) as if it had just happened.
    /// </summary>
    public void Start() => _quorum.ImageChanged += (_, e) => Observe(e.Previous, e.Current);

    /// <summary>Partitions that got a new leader (not partitions created, nor ones going offline).</summary>
    public long LeaderElections => Interlocked.Read(ref _elections);

    /// <summary>ISR changes that removed replicas.</summary>
    public long IsrShrinks => Interlocked.Read(ref _isrShrinks);

    /// <summary>ISR changes that added replicas.</summary>
    public long IsrExpands => Interlocked.Read(ref _isrExpands);

    /// <summary>The latest leader changes, oldest first.</summary>
    public IReadOnlyList<LeaderChange> Recent()
    {
        lock (_lock)
        {
            return [.. _recent];
        }
    }

    private void Observe(MetadataImage previous, MetadataImage current)
    {
        // Images share unchanged topics and partitions (immutable collections): only changed ones are compared.
        if (ReferenceEquals(previous.TopicsById, current.TopicsById))
        {
            return;
        }

        foreach (var (id, topic) in current.TopicsById)
        {
            if (!previous.TopicsById.TryGetValue(id, out var before) || ReferenceEquals(before, topic))
            {
                continue;
            }

            foreach (var (index, partition) in topic.Partitions)
            {
                if (before.Partitions.TryGetValue(index, out var was) && !ReferenceEquals(was, partition))
                {
                    Compare(topic.Name, was, partition);
                }
            }
        }
    }

    private void Compare(string topic, PartitionImage was, PartitionImage now)
    {
        if (now.Isr.Length < was.Isr.Length)
        {
            Interlocked.Increment(ref _isrShrinks);
        }
        else if (now.Isr.Length > was.Isr.Length)
        {
            Interlocked.Increment(ref _isrExpands);
        }

        if (now.Leader == was.Leader)
        {
            return;
        }

        if (now.Leader >= 0)
        {
            Interlocked.Increment(ref _elections);
        }

        lock (_lock)
        {
            if (_recent.Count == RecentCapacity)
            {
                _recent.Dequeue();
            }

            _recent.Enqueue(new LeaderChange(_time.GetUtcNow(), topic, now.PartitionId, was.Leader, now.Leader, now.LeaderEpoch));
        }
    }
}
