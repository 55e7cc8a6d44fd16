using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using Levee.Broker.Partitions;
using Levee.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

/// <summary>
/// Kafka's classic group coordinator (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, offsets, group admin) for the
/// groups whose __consumer_offsets partition this broker leads (on a single broker: all of them).
/// <para>
/// Concurrency: each <see cref="Group"/> has its own lock; a request takes it for its whole decision, including
/// the append to __consumer_offsets, so a group's records are written in the order its state changed. JoinGroup
/// and SyncGroup that must wait park a <see cref="TaskCompletionSource{TResult}"/> on the member and are
/// answered by whichever request or timer completes the phase. One <see cref="PeriodicTimer"/> drives every
/// deadline (sessions, join and sync phases, pending member ids, offset retention): no thread or timer per member.
/// </para>
/// </summary>
public sealed partial class GroupCoordinator : IHostedService, IAsyncDisposable
{
    /// <summary>The internal topic holding offsets and group metadata.</summary>
    public const string OffsetsTopic = "__consumer_offsets";

    /// <summary>How long a new member's JoinGroup may wait (KIP-394): it has no session yet.</summary>
    private const long NewMemberJoinTimeoutMs = 300_000;

    /// <summary>Granularity of every group deadline.</summary>
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(50);

    private readonly ConcurrentDictionary<string, Group> _groups = new(StringComparer.Ordinal);
    private readonly ReplicaManager _replicas;
    private readonly BrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _topicLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private int _offsetsPartitions;
    private volatile bool _shuttingDown;
    private long _nextRetentionCheckMs;
    private Task? _timerLoop;

    /// <summary>Creates the coordinator; <see cref="StartAsync"/> loads the stored groups and starts the timer.</summary>
    public GroupCoordinator(ReplicaManager replicas, BrokerOptions options, TimeProvider time, ILoggerFactory loggerFactory, IHostApplicationLifetime lifetime)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(lifetime);

        // Parked JoinGroup/SyncGroup requests are answered as soon as the broker starts stopping, so that
        // closing connections never waits for a rebalance timeout.
        lifetime.ApplicationStopping.Register(FailParkedRequests);
        _replicas = replicas;
        _options = options;
        _time = time;
        _logger = loggerFactory.CreateLogger<GroupCoordinator>();
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private long OffsetsRetentionMs => _options.OffsetsRetentionMinutes * 60_000;

    /// <summary>The __consumer_offsets partition of a group: abs(Java String.hashCode(groupId)) % partitions, as Kafka computes it.</summary>
    public static int PartitionFor(string groupId, int partitionCount)
    {
        ArgumentNullException.ThrowIfNull(groupId);
        var hash = 0;
        foreach (var c in groupId)
        {
            hash = unchecked((31 * hash) + c);
        }

        // Kafka's Utils.abs maps Integer.MIN_VALUE to 0 rather than overflowing.
        var abs = hash == int.MinValue ? 0 : Math.Abs(hash);
        return abs % partitionCount;
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // The partitions led at start are loaded before the listener takes requests; later leadership changes
        // load in the background (COORDINATOR_LOAD_IN_PROGRESS meanwhile).
        _replicas.PartitionsChanged += OnPartitionsChanged;
        SyncOwnership(loadInline: true);
        _nextRetentionCheckMs = NowMs + _options.OffsetsRetentionCheckIntervalMs;
        _timerLoop = Task.Run(() => RunTimersAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _replicas.PartitionsChanged -= OnPartitionsChanged;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_timerLoop is not null)
        {
            await _timerLoop.ConfigureAwait(false);
        }

        FailParkedRequests();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    /// <summary>
    /// Kafka answers parked requests with NOT_COORDINATOR when it gives up a group: the client finds the
    /// coordinator again and rejoins.
    /// </summary>
    private void FailParkedRequests()
    {
        _shuttingDown = true;
        foreach (var group in _groups.Values)
        {
            lock (group.Sync)
            {
                FailParked(group, ErrorCode.NotCoordinator);
            }
        }
    }

    /// <summary>
    /// Creates __consumer_offsets on first use, as Kafka does on the first FindCoordinator. False when it cannot
    /// be created (the caller answers COORDINATOR_NOT_AVAILABLE).
    /// </summary>
    internal async ValueTask<bool> TryEnsureOffsetsTopicAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _offsetsPartitions) > 0)
        {
            return true;
        }

        await _topicLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_offsetsPartitions > 0)
            {
                return true;
            }

            if (!_replicas.Topics.TryGet(OffsetsTopic, out var topic))
            {
                // Compacted, as Kafka creates it: the last record of each key (offset commit, group metadata) stays
                // and tombstones go after delete.retention.ms, so the log is bounded by the groups' keys, never
                // deleted by retention (see docs/groups.md).
                var configs = ImmutableDictionary<string, string?>.Empty
                    .Add("cleanup.policy", "compact")
                    .Add("segment.bytes", _options.OffsetsTopicSegmentBytes.ToString(CultureInfo.InvariantCulture));
                // offsets.topic.replication.factor: Kafka's default is 3; Levee takes min(3, available brokers) so that
                // a single broker (or two) can still create it. An explicit factor is needed: -1 would mean
                // default.replication.factor, which is for client topics.
                var available = _replicas.Image.Brokers.Values.Count(b => !b.Fenced && !b.InControlledShutdown);
                var replicationFactor = (short)Math.Clamp(available, 1, 3);
                // The replica manager forwards the creation to the active controller when it runs elsewhere.
                var (result, _) = await _replicas.CreateTopicAsync(OffsetsTopic, _options.OffsetsTopicPartitions, replicationFactor, null, configs, validateOnly: false, cancellationToken).ConfigureAwait(false);
                if (result.Error is ErrorCode.None or ErrorCode.TopicAlreadyExists)
                {
                    // The image (here, if the controller is elsewhere) and the partitions' leaders follow shortly.
                    await WaitForOffsetsPartitionsAsync(cancellationToken).ConfigureAwait(false);
                }

                if (!_replicas.Topics.TryGet(OffsetsTopic, out topic))
                {
                    LogOffsetsTopicFailed(result.Error, result.Message);
                    return false;
                }
            }

            Volatile.Write(ref _offsetsPartitions, topic.PartitionCount);
            return true;
        }
        finally
        {
            _topicLock.Release();
        }
    }

    /// <summary>The group, if this broker holds it under a partition it still leads.</summary>
    private Group? TryGetGroup(string groupId) => _groups.TryGetValue(groupId, out var group) && !group.Owner.IsUnloaded ? group : null;

    /// <summary>The group, created empty under <paramref name="owner"/> if need be (replacing one left from an older leadership).</summary>
    private Group GetOrCreateGroup(string groupId, OwnedPartition owner)
    {
        while (true)
        {
            var group = _groups.GetOrAdd(groupId, id => new Group(id, owner, NowMs));
            if (!group.Owner.IsUnloaded || group.Owner == owner)
            {
                return group;
            }

            _groups.TryRemove(new KeyValuePair<string, Group>(groupId, group));
        }
    }

    /// <summary>Marks a group dead and forgets it. Called with the group's lock held.</summary>
    private void RemoveGroup(Group group, long nowMs)
    {
        group.TransitionTo(GroupState.Dead, nowMs);
        _groups.TryRemove(new KeyValuePair<string, Group>(group.GroupId, group));
    }

    /// <summary>KIP-345 checks of a request naming a member: a static member must match its registration.</summary>
    private static ErrorCode ValidateMember(Group group, string memberId, string? groupInstanceId)
    {
        if (groupInstanceId is not null)
        {
            if (!group.StaticMembers.TryGetValue(groupInstanceId, out var registered))
            {
                return ErrorCode.UnknownMemberId;
            }

            if (registered != memberId)
            {
                return ErrorCode.FencedInstanceId;
            }
        }

        return group.Has(memberId) ? ErrorCode.None : ErrorCode.UnknownMemberId;
    }

    private async Task RunTimersAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Tick, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = NowMs;
                foreach (var group in _groups.Values)
                {
                    try
                    {
                        lock (group.Sync)
                        {
                            if (group.Owner.IsServing)
                            {
                                OnTick(group, now);
                            }
                        }
                    }
#pragma warning disable CA1031 // One group's failure must not stop the timer of every other group.
                    catch (Exception e)
#pragma warning restore CA1031
                    {
                        LogTimerFailed(e, group.GroupId);
                    }
                }

                if (now >= _nextRetentionCheckMs)
                {
                    _nextRetentionCheckMs = now + _options.OffsetsRetentionCheckIntervalMs;
                    ExpireOffsets(now);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Fires the group's due deadlines. Called with the group's lock held.</summary>
    private void OnTick(Group group, long now)
    {
        if (group.State == GroupState.Dead)
        {
            return;
        }

        if (group.Consumer is { } consumer)
        {
            OnConsumerTick(group, consumer, now);
            return;
        }

        if (group.PendingMembers.Count > 0)
        {
            foreach (var (memberId, deadline) in group.PendingMembers.ToList())
            {
                if (deadline <= now)
                {
                    group.PendingMembers.Remove(memberId);
                    LogPendingMemberExpired(group.GroupId, memberId);
                }
            }

            TryCompleteJoin(group, now);
        }

        foreach (var member in group.Members.ToList())
        {
            // A member with a JoinGroup or SyncGroup in flight is alive (its request is parked here), except a
            // new member, whose first join is bounded by the new-member timeout instead.
            var keptAlive = !member.IsNew && (member.IsAwaitingJoin || member.IsAwaitingSync);
            if (!keptAlive && member.SessionDeadlineMs <= now && group.Has(member.MemberId))
            {
                LogSessionExpired(group.GroupId, member.MemberId, member.SessionTimeoutMs);
                RemoveMemberAndUpdateGroup(group, member, now);
            }
        }

        if (group.State == GroupState.PreparingRebalance && now >= group.JoinDeadlineMs)
        {
            OnJoinDeadline(group, now);
        }

        if (group.State is GroupState.CompletingRebalance or GroupState.Stable && now >= group.SyncDeadlineMs)
        {
            OnSyncDeadline(group, now);
        }
    }

    [LoggerMessage(EventName = "OffsetsTopicFailedCore", Level = LogLevel.Error, Message = "Could not create {Topic}: {Error} {Message}")]
    private partial void LogOffsetsTopicFailedCore(string topic, ErrorCode error, string? message);

    private void LogOffsetsTopicFailed(ErrorCode error, string? message) => LogOffsetsTopicFailedCore(OffsetsTopic, error, message);

    [LoggerMessage(EventName = "TimerFailed", Level = LogLevel.Error, Message = "Group timer failed for group {GroupId}")]
    private partial void LogTimerFailed(Exception e, string groupId);

    [LoggerMessage(EventName = "PendingMemberExpired", Level = LogLevel.Information, Message = "Group {GroupId}: pending member {MemberId} did not rejoin in time and is dropped")]
    private partial void LogPendingMemberExpired(string groupId, string memberId);

    [LoggerMessage(EventName = "SessionExpired", Level = LogLevel.Information, Message = "Group {GroupId}: member {MemberId} session expired ({SessionTimeoutMs} ms without heartbeat); removing it")]
    private partial void LogSessionExpired(string groupId, string memberId, int sessionTimeoutMs);
}
