namespace Levee.Broker.Groups;

/// <summary>
/// One __consumer_offsets partition this broker leads, for one leader epoch: the coordinator serves its groups
/// from the moment they are loaded until leadership moves (or the epoch changes), when it is unloaded. Groups
/// point at the <see cref="OwnedPartition"/> they were loaded or created under, so a request that raced an
/// unload sees <see cref="IsServing"/> false under the group's lock and answers NOT_COORDINATOR.
/// </summary>
internal sealed class OwnedPartition(int partition, int leaderEpoch)
{
    private readonly TaskCompletionSource _unloaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<long, HashSet<Group>> _openTransactions = [];
    private readonly List<(long ProducerId, bool Commit)> _completedWhileLoading = [];
    private readonly Lock _transactionsLock = new();
    private volatile bool _loaded;

    /// <summary>The __consumer_offsets partition index.</summary>
    public int Partition { get; } = partition;

    /// <summary>The leader epoch this broker leads it with.</summary>
    public int LeaderEpoch { get; } = leaderEpoch;

    /// <summary>True once its groups are loaded (before that: COORDINATOR_LOAD_IN_PROGRESS).</summary>
    public bool IsLoaded => _loaded;

    /// <summary>True after leadership moved: its groups are gone from this broker (NOT_COORDINATOR).</summary>
    public bool IsUnloaded => _unloaded.Task.IsCompleted;

    /// <summary>Loaded and not unloaded: requests for its groups are served here.</summary>
    public bool IsServing => _loaded && !IsUnloaded;

    /// <summary>Completes when the partition is unloaded, to end waits for the ISR at once.</summary>
    public Task Unloaded => _unloaded.Task;

    /// <summary>Marks the groups loaded.</summary>
    public void MarkLoaded() => _loaded = true;

    /// <summary>Marks the partition given up.</summary>
    public void MarkUnloaded() => _unloaded.TrySetResult();

    /// <summary>Notes that <paramref name="group"/> holds offsets of an open transaction of <paramref name="producerId"/> (Kafka's openGroupsForProducer).</summary>
    public void AddOpenTransaction(long producerId, Group group)
    {
        lock (_transactionsLock)
        {
            if (!_openTransactions.TryGetValue(producerId, out var groups))
            {
                _openTransactions[producerId] = groups = [];
            }

            groups.Add(group);
        }
    }

    /// <summary>The groups holding offsets of the producer's open transaction, forgotten here: its marker was written.</summary>
    public List<Group> TakeOpenTransaction(long producerId)
    {
        lock (_transactionsLock)
        {
            return _openTransactions.Remove(producerId, out var groups) ? [.. groups] : [];
        }
    }

    /// <summary>
    /// A marker written after the load started reading (the load does not see it): it is applied when the load ends.
    /// Called under the coordinator's ownership lock, as is <see cref="TakeCompletedWhileLoading"/>.
    /// </summary>
    public void DeferCompletion(long producerId, bool commit) => _completedWhileLoading.Add((producerId, commit));

    /// <summary>The markers written while loading, in order.</summary>
    public List<(long ProducerId, bool Commit)> TakeCompletedWhileLoading()
    {
        var completed = _completedWhileLoading.ToList();
        _completedWhileLoading.Clear();
        return completed;
    }
}
