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
}
