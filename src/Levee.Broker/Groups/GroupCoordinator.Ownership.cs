using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    /// <summary>How long a write to __consumer_offsets may wait for the ISR (Kafka's offsets.commit.timeout.ms default).</summary>
    private const int OffsetsCommitTimeoutMs = 5000;

    /// <summary>How long the first use of __consumer_offsets waits for its partitions to get leaders (and load here).</summary>
    private static readonly TimeSpan OffsetsTopicReadyTimeout = TimeSpan.FromSeconds(5);

    private readonly Dictionary<int, OwnedPartition> _owned = [];
    private readonly Lock _ownershipLock = new();

    /// <summary>
    /// FindCoordinator for a group: the broker that leads the group's __consumer_offsets partition, with its
    /// advertised endpoint on <paramref name="listener"/> from the metadata image; COORDINATOR_NOT_AVAILABLE while that
    /// partition has no leader.
    /// </summary>
    public (ErrorCode Error, string? Message, int NodeId, string Host, int Port) FindCoordinator(string groupId, string listener)
    {
        ArgumentNullException.ThrowIfNull(groupId);
        var image = _replicas.Image;
        if (!image.TopicsByName.TryGetValue(OffsetsTopic, out var topic) || topic.Partitions.Count == 0)
        {
            return (ErrorCode.CoordinatorNotAvailable, $"{OffsetsTopic} does not exist yet.", -1, "", -1);
        }

        var partition = PartitionFor(groupId, topic.Partitions.Count);
        if (!topic.Partitions.TryGetValue(partition, out var state) || state.Leader < 0)
        {
            return (ErrorCode.CoordinatorNotAvailable, $"{OffsetsTopic}-{partition} has no leader.", -1, "", -1);
        }

        if (!image.Brokers.TryGetValue(state.Leader, out var broker) || broker.EndPoint(listener) is not { } endpoint)
        {
            return (ErrorCode.CoordinatorNotAvailable, $"The leader of {OffsetsTopic}-{partition}, broker {state.Leader}, has no endpoint on listener {listener}.", -1, "", -1);
        }

        return (ErrorCode.None, null, state.Leader, endpoint.Host, endpoint.Port);
    }

    /// <summary>
    /// Whether this broker coordinates <paramref name="groupId"/> now: NOT_COORDINATOR when it does not lead the
    /// group's partition, COORDINATOR_LOAD_IN_PROGRESS while loading it. With no __consumer_offsets at all no group
    /// exists anywhere: no error and no owner (the caller answers as for an unknown group).
    /// </summary>
    private ErrorCode CheckCoordinator(string groupId, out OwnedPartition? owner)
    {
        owner = null;
        if (!_replicas.Topics.TryGet(OffsetsTopic, out var topic))
        {
            return ErrorCode.None;
        }

        var partition = PartitionFor(groupId, topic.PartitionCount);
        lock (_ownershipLock)
        {
            if (!_owned.TryGetValue(partition, out owner))
            {
                // Led here already but not yet taken over (the leadership change is being applied): loading, which
                // clients retry in place, rather than NOT_COORDINATOR, which would send them back to FindCoordinator
                // for the same answer.
                return _replicas.TryGetPartition(OffsetsTopic, partition, out var led) && led.IsLeader
                    ? ErrorCode.CoordinatorLoadInProgress
                    : ErrorCode.NotCoordinator;
            }
        }

        return owner.IsLoaded ? ErrorCode.None : ErrorCode.CoordinatorLoadInProgress;
    }

    /// <summary>After creating __consumer_offsets: waits (bounded) until every partition has a leader and those led here are loaded.</summary>
    private async Task WaitForOffsetsPartitionsAsync(CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + OffsetsTopicReadyTimeout;
        while (_time.GetUtcNow() < deadline)
        {
            var image = _replicas.Image;
            if (image.TopicsByName.TryGetValue(OffsetsTopic, out var topic) && topic.Partitions.Values.All(p => p.Leader >= 0))
            {
                lock (_ownershipLock)
                {
                    if (topic.Partitions.Values.Where(p => p.Leader == _replicas.LocalBrokerId).All(p => _owned.TryGetValue(p.PartitionId, out var o) && o.IsLoaded))
                    {
                        return;
                    }
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private void OnPartitionsChanged(object? sender, EventArgs e)
    {
        try
        {
            SyncOwnership(loadInline: false);
        }
#pragma warning disable CA1031 // Raised on the metadata applier: a failure here must not stop the broker following the image.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogOwnershipFailed(ex);
        }
    }

    /// <summary>
    /// Compares the __consumer_offsets partitions this broker leads (and their leader epochs) with those it
    /// served: loads the new ones, unloads those lost. A new leader epoch is a new leadership: unload, reload.
    /// </summary>
    private void SyncOwnership(bool loadInline)
    {
        var toLoad = new List<OwnedPartition>();
        var toUnload = new List<OwnedPartition>();
        lock (_ownershipLock)
        {
            var led = new Dictionary<int, int>();
            if (!_stopping.IsCancellationRequested)
            {
                foreach (var partition in _replicas.Partitions)
                {
                    if (partition.Id.Topic == OffsetsTopic && partition.IsLeader)
                    {
                        led[partition.Id.Partition] = partition.LeaderEpoch;
                    }
                }
            }

            foreach (var (index, owned) in _owned.ToList())
            {
                if (!led.TryGetValue(index, out var epoch) || epoch != owned.LeaderEpoch)
                {
                    _owned.Remove(index);
                    owned.MarkUnloaded();
                    toUnload.Add(owned);
                }
            }

            foreach (var (index, epoch) in led)
            {
                if (!_owned.ContainsKey(index))
                {
                    var owned = new OwnedPartition(index, epoch);
                    _owned[index] = owned;
                    toLoad.Add(owned);
                }
            }
        }

        foreach (var owned in toUnload)
        {
            Unload(owned);
        }

        foreach (var owned in toLoad)
        {
            if (loadInline)
            {
                Load(owned);
            }
            else
            {
                _ = Task.Run(() => Load(owned), CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// Loads the groups of a partition this broker now leads, reading its log to the end: a leader never
    /// truncates its own log, so every record there will be committed by this leadership. Answers that depend on
    /// loaded state wait until the high watermark passes the loaded end, so nothing uncommitted is served.
    /// </summary>
    private void Load(OwnedPartition owned)
    {
        try
        {
            if (!_replicas.TryGetPartition(OffsetsTopic, owned.Partition, out var partition))
            {
                return;
            }

            var end = partition.Log.LogEndOffset;
            var groups = LoadPartition(owned, partition.Log, end, NowMs);
            var offsets = 0;
            lock (_ownershipLock)
            {
                if (!_owned.TryGetValue(owned.Partition, out var current) || current != owned)
                {
                    return;
                }

                foreach (var group in groups)
                {
                    group.WrittenEnd = end;
                    _groups[group.GroupId] = group;
                    offsets += group.Offsets.Count;
                    foreach (var producerId in group.PendingTransactionalOffsets.Keys)
                    {
                        owned.AddOpenTransaction(producerId, group);
                    }
                }

                // Markers the transaction coordinator wrote after the log was read were deferred until now.
                foreach (var (producerId, commit) in owned.TakeCompletedWhileLoading())
                {
                    CompleteOpenTransaction(owned, partition, producerId, commit);
                }

                owned.MarkLoaded();
            }

            LogLoaded(owned.Partition, owned.LeaderEpoch, groups.Count, offsets, end);
        }
#pragma warning disable CA1031 // A partition that cannot be loaded stays "loading" (retriable for clients) and is logged.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogLoadFailed(e, owned.Partition);
        }
    }

    /// <summary>Leadership moved: the partition's groups leave this broker; parked JoinGroup/SyncGroup answer NOT_COORDINATOR.</summary>
    private void Unload(OwnedPartition owned)
    {
        var count = 0;
        foreach (var group in _groups.Values.Where(g => g.Owner == owned).ToList())
        {
            lock (group.Sync)
            {
                FailParked(group, ErrorCode.NotCoordinator);
                group.TransitionTo(GroupState.Dead, NowMs);
            }

            _groups.TryRemove(new KeyValuePair<string, Group>(group.GroupId, group));
            count++;
        }

        LogUnloaded(owned.Partition, owned.LeaderEpoch, count);
    }

    /// <summary>Answers every parked JoinGroup and SyncGroup of the group with <paramref name="error"/>. Called with the group's lock held.</summary>
    private static void FailParked(Group group, ErrorCode error)
    {
        foreach (var member in group.Members)
        {
            member.AwaitingJoin?.TrySetResult(JoinError(member.MemberId, error));
            member.AwaitingJoin = null;
            member.AwaitingSync?.TrySetResult(new SyncGroupResponse { ErrorCode = (short)error, Assignment = [] });
            member.AwaitingSync = null;
        }
    }

    /// <summary>
    /// acks=all for __consumer_offsets: waits until the ISR has everything written for this group so far (Kafka
    /// answers commits and SyncGroup only then). A timeout is COORDINATOR_NOT_AVAILABLE and lost leadership
    /// NOT_COORDINATOR, as Kafka maps REQUEST_TIMED_OUT and NOT_LEADER_OR_FOLLOWER for the offsets topic.
    /// </summary>
    private async ValueTask<ErrorCode> WaitForWrittenAsync(Group group, CancellationToken cancellationToken)
    {
        var end = group.WrittenEnd;
        if (end <= 0)
        {
            return ErrorCode.None;
        }

        if (group.Owner.IsUnloaded || !_replicas.TryGetPartition(OffsetsTopic, group.OffsetsPartition, out var partition))
        {
            return ErrorCode.NotCoordinator;
        }

        if (partition.HighWatermark >= end)
        {
            return ErrorCode.None;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(OffsetsCommitTimeoutMs);
        var replicated = partition.WaitForHighWatermarkAsync(end, timeout.Token);
        try
        {
            var first = await Task.WhenAny(replicated, group.Owner.Unloaded).ConfigureAwait(false);
            if (first != replicated)
            {
                return ErrorCode.NotCoordinator;
            }

            await replicated.ConfigureAwait(false);
            return ErrorCode.None;
        }
        catch (InvalidOperationException)
        {
            return ErrorCode.NotCoordinator;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogReplicationTimedOut(group.GroupId, group.OffsetsPartition, end, OffsetsCommitTimeoutMs);
            return ErrorCode.CoordinatorNotAvailable;
        }
        finally
        {
            // End the wait on the partition if the unload won the race.
            await timeout.CancelAsync().ConfigureAwait(false);
            _ = replicated.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    [LoggerMessage(EventName = "OwnershipFailed", Level = LogLevel.Error, Message = "Following __consumer_offsets leadership failed")]
    private partial void LogOwnershipFailed(Exception e);

    [LoggerMessage(EventName = "Loaded", Level = LogLevel.Information, Message = "Loaded __consumer_offsets-{Partition} (leader epoch {LeaderEpoch}): {Groups} group(s), {Offsets} committed offset(s), up to offset {End}")]
    private partial void LogLoaded(int partition, int leaderEpoch, int groups, int offsets, long end);

    [LoggerMessage(EventName = "LoadFailed", Level = LogLevel.Error, Message = "Loading __consumer_offsets-{Partition} failed; its groups answer COORDINATOR_LOAD_IN_PROGRESS")]
    private partial void LogLoadFailed(Exception e, int partition);

    [LoggerMessage(EventName = "Unloaded", Level = LogLevel.Information, Message = "Unloaded __consumer_offsets-{Partition} (leader epoch {LeaderEpoch}): leadership moved; {Groups} group(s) now coordinated elsewhere")]
    private partial void LogUnloaded(int partition, int leaderEpoch, int groups);

    [LoggerMessage(EventName = "ReplicationTimedOut", Level = LogLevel.Warning, Message = "Group {GroupId}: the ISR of __consumer_offsets-{Partition} did not reach offset {End} within {TimeoutMs} ms")]
    private partial void LogReplicationTimedOut(string groupId, int partition, long end, int timeoutMs);
}
