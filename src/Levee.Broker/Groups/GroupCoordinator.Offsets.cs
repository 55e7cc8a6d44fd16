using System.Text;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Levee.Storage;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    /// <summary>
    /// OffsetCommit: checks the member and generation (generation -1 on an empty or unknown group is a "simple"
    /// commit by a consumer that assigns partitions itself), appends the offsets to __consumer_offsets and
    /// answers after the append.
    /// </summary>
    public async ValueTask<OffsetCommitResponse> CommitOffsetsAsync(OffsetCommitRequest request, short version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new OffsetCommitResponse();
        var commits = new List<OffsetToCommit>();
        foreach (var topic in request.Topics)
        {
            var topicResponse = new OffsetCommitResponse.OffsetCommitResponseTopic { Name = topic.Name };
            response.Topics.Add(topicResponse);
            foreach (var p in topic.Partitions)
            {
                var result = new OffsetCommitResponse.OffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex };
                topicResponse.Partitions.Add(result);
                AddCommit(commits, new TopicPartition(topic.Name, p.PartitionIndex), p.CommittedOffset, p.CommittedLeaderEpoch, p.CommittedMetadata, e => result.ErrorCode = (short)e);
            }
        }

        var generation = request.GenerationIdOrMemberEpoch;
        long? retentionMs = version is >= 2 and <= 4 && request.RetentionTimeMs != -1 ? request.RetentionTimeMs : null;
        await CommitAsync(
            request.GroupId,
            generation,
            commits,
            (group, now) => ValidateCommit(group, request, version, generation, now),
            retentionMs,
            new RecordBatchOptions(),
            (group, offsets) =>
            {
                foreach (var (tp, offset) in offsets)
                {
                    group.Offsets[tp] = offset;
                }
            },
            cancellationToken).ConfigureAwait(false);
        return response;
    }

    /// <summary>
    /// Checks one partition of a commit request (it exists, its metadata is not too large, as Kafka checks them): a
    /// partition that passes joins <paramref name="commits"/>, one that fails is answered at once.
    /// </summary>
    private void AddCommit(List<OffsetToCommit> commits, TopicPartition tp, long offset, int leaderEpoch, string? metadata, Action<ErrorCode> answer)
    {
        if (_replicas.Image.GetPartition(tp.Topic, tp.Partition) is null)
        {
            answer(ErrorCode.UnknownTopicOrPartition);
        }
        else if (metadata is not null && Encoding.UTF8.GetByteCount(metadata) > _options.OffsetMetadataMaxBytes)
        {
            answer(ErrorCode.OffsetMetadataTooLarge);
        }
        else
        {
            commits.Add(new OffsetToCommit(tp, offset, leaderEpoch, metadata ?? "", answer));
        }
    }

    /// <summary>
    /// The commit both OffsetCommit and TxnOffsetCommit make: finds the group (a generation of a group that does not
    /// exist is stale: ILLEGAL_GENERATION; without one the group is created empty), checks the request against it
    /// under its lock (<paramref name="validate"/>), appends the offsets as one batch with <paramref name="options"/>,
    /// hands them to <paramref name="store"/> (with where the batch landed) and answers once the ISR has the batch.
    /// </summary>
    private async ValueTask CommitAsync(
        string groupId,
        int generation,
        List<OffsetToCommit> commits,
        Func<Group, long, ErrorCode> validate,
        long? retentionMs,
        RecordBatchOptions options,
        Action<Group, List<(TopicPartition Partition, CommittedOffset Offset)>> store,
        CancellationToken cancellationToken)
    {
        if (!await TryEnsureOffsetsTopicAsync(cancellationToken).ConfigureAwait(false))
        {
            Answer(commits, ErrorCode.CoordinatorNotAvailable);
            return;
        }

        var coordinatorError = CheckCoordinator(groupId, out var owner);
        if (coordinatorError != ErrorCode.None || owner is null)
        {
            Answer(commits, owner is null && coordinatorError == ErrorCode.None ? ErrorCode.CoordinatorNotAvailable : coordinatorError);
            return;
        }

        Group committed;
        while (true)
        {
            var group = TryGetGroup(groupId);
            if (group is null)
            {
                if (!owner.IsServing)
                {
                    Answer(commits, ErrorCode.NotCoordinator);
                    return;
                }

                if (generation >= 0)
                {
                    // A generation of a group that no longer exists (or never did): the commit is stale.
                    Answer(commits, ErrorCode.IllegalGeneration);
                    return;
                }

                group = GetOrCreateGroup(groupId, owner);
            }

            lock (group.Sync)
            {
                var now = NowMs;
                if (!group.Owner.IsServing)
                {
                    Answer(commits, ErrorCode.NotCoordinator);
                    return;
                }

                if (group.State == GroupState.Dead)
                {
                    continue;
                }

                var error = validate(group, now);
                if (error != ErrorCode.None)
                {
                    Answer(commits, error);
                    return;
                }

                if (commits.Count == 0)
                {
                    return;
                }

                long? expire = retentionMs is { } retention ? now + retention : null;
                var records = new List<RecordData>(commits.Count);
                var offsets = new List<(TopicPartition, CommittedOffset)>(commits.Count);
                foreach (var commit in commits)
                {
                    var offset = new CommittedOffset(commit.Offset, commit.LeaderEpoch, commit.Metadata, now, expire);
                    offsets.Add((commit.Partition, offset));
                    records.Add(new RecordData(GroupRecords.OffsetCommitKey(group.GroupId, commit.Partition.Topic, commit.Partition.Partition), GroupRecords.OffsetCommitValue(offset), now));
                }

                var appended = Append(group, records, options, out var baseOffset);
                if (appended != ErrorCode.None)
                {
                    Answer(commits, appended);
                    return;
                }

                store(group, [.. offsets.Select(o => (o.Item1, o.Item2 with { RecordOffset = baseOffset }))]);
                committed = group;
            }

            break;
        }

        // acks=all: the commit is answered once the ISR has it.
        var written = await WaitForWrittenAsync(committed, cancellationToken).ConfigureAwait(false);
        if (written != ErrorCode.None)
        {
            Answer(commits, written);
        }
    }

    private static void Answer(List<OffsetToCommit> commits, ErrorCode error)
    {
        foreach (var commit in commits)
        {
            commit.Answer(error);
        }
    }

    private static ErrorCode ValidateCommit(Group group, OffsetCommitRequest request, short version, int generation, long now)
    {
        if (group.Consumer is { } consumer)
        {
            // KIP-848: the member's epoch stands for the generation; its members commit with v9+, as Kafka requires.
            var error = ValidateConsumerMemberEpoch(consumer, request.MemberId, generation, adminAllowed: consumer.Members.Count == 0);
            return error == ErrorCode.None && generation >= 0 && version < 9 ? ErrorCode.UnsupportedVersion : error;
        }

        if (request.GroupInstanceId is not null && group.StaticMembers.TryGetValue(request.GroupInstanceId, out var registered) && registered != request.MemberId)
        {
            return ErrorCode.FencedInstanceId;
        }

        if (generation < 0 && group.State == GroupState.Empty)
        {
            return ErrorCode.None;
        }

        var member = group.Get(request.MemberId);
        if (member is null)
        {
            return ErrorCode.UnknownMemberId;
        }

        if (generation != group.GenerationId)
        {
            return ErrorCode.IllegalGeneration;
        }

        switch (group.State)
        {
            case GroupState.Stable:
            case GroupState.PreparingRebalance:
                // Commits during PreparingRebalance are allowed: the heartbeat response tells the member to rejoin.
                member.SessionDeadlineMs = now + member.SessionTimeoutMs;
                return ErrorCode.None;
            default:
                return ErrorCode.RebalanceInProgress;
        }
    }

    /// <summary>
    /// OffsetFetch: one group (v1-v7) or several (v8+); null topics mean every committed partition (v2+). With
    /// require_stable (v7+, KIP-447) a partition an open transaction holds an offset for is answered
    /// UNSTABLE_OFFSET_COMMIT (the client retries); without it, the last committed offset.
    /// </summary>
    public async ValueTask<OffsetFetchResponse> FetchOffsetsAsync(OffsetFetchRequest request, short version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new OffsetFetchResponse();
        var requireStable = version >= 7 && request.RequireStable;
        if (version >= 8)
        {
            foreach (var requested in request.Groups)
            {
                var topics = requested.Topics?.Select(t => (t.Name, t.PartitionIndexes)).ToList();
                var groupResponse = new OffsetFetchResponse.OffsetFetchResponseGroup { GroupId = requested.GroupId };
                var (error, fetched) = await FetchGroupOffsetsAsync(requested.GroupId, topics, requireStable, (requested.MemberId, requested.MemberEpoch), cancellationToken).ConfigureAwait(false);
                groupResponse.ErrorCode = (short)error;
                foreach (var (name, partitions) in fetched)
                {
                    groupResponse.Topics.Add(new OffsetFetchResponse.OffsetFetchResponseTopics
                    {
                        Name = name,
                        Partitions = [.. partitions.Select(p => new OffsetFetchResponse.OffsetFetchResponsePartitions
                        {
                            PartitionIndex = p.Partition,
                            CommittedOffset = p.Offset?.Offset ?? -1,
                            CommittedLeaderEpoch = p.Offset?.LeaderEpoch ?? -1,
                            Metadata = p.Offset?.Metadata ?? "",
                            ErrorCode = (short)p.Error,
                        })],
                    });
                }

                response.Groups.Add(groupResponse);
            }

            return response;
        }

        var single = request.Topics?.Select(t => (t.Name, t.PartitionIndexes)).ToList();
        var (singleError, singleFetched) = await FetchGroupOffsetsAsync(request.GroupId, single, requireStable, (null, -1), cancellationToken).ConfigureAwait(false);
        response.ErrorCode = (short)singleError;
        foreach (var (name, partitions) in singleFetched)
        {
            response.Topics.Add(new OffsetFetchResponse.OffsetFetchResponseTopic
            {
                Name = name,
                Partitions = [.. partitions.Select(p => new OffsetFetchResponse.OffsetFetchResponsePartition
                {
                    PartitionIndex = p.Partition,
                    CommittedOffset = p.Offset?.Offset ?? -1,
                    CommittedLeaderEpoch = p.Offset?.LeaderEpoch ?? -1,
                    Metadata = p.Offset?.Metadata ?? "",

                    // v1 has no top-level error: Kafka repeats it on every partition.
                    ErrorCode = version < 2 ? (short)singleError : (short)p.Error,
                })],
            });
        }

        return response;
    }

    /// <summary>
    /// The committed offsets of a group, answered only once the ISR has every record they come from (a commit
    /// is visible in memory once appended; it is served once replicated). Offsets of open transactions are never
    /// shown; with <paramref name="requireStable"/> a partition that has some is answered UNSTABLE_OFFSET_COMMIT
    /// without an offset (for "all partitions", among the committed ones, as Kafka). On an error, the requested
    /// partitions come back with offset -1 (the caller puts the error where the version wants it).
    /// </summary>
    private async ValueTask<(ErrorCode Error, List<(string Topic, List<FetchedOffset> Partitions)> Offsets)> FetchGroupOffsetsAsync(string groupId, List<(string Name, List<int> Partitions)>? topics, bool requireStable, (string? Id, int Epoch) member, CancellationToken cancellationToken)
    {
        var result = new List<(string, List<FetchedOffset>)>();
        List<(string, List<FetchedOffset>)> NoOffsets() =>
            topics is null ? [] : [.. topics.Select(t => (t.Name, t.Partitions.Select(p => new FetchedOffset(p, null, ErrorCode.None)).ToList()))];

        var coordinatorError = CheckCoordinator(groupId, out _);
        if (coordinatorError != ErrorCode.None)
        {
            return (coordinatorError, NoOffsets());
        }

        var group = TryGetGroup(groupId);
        if (group is null)
        {
            return (ErrorCode.None, NoOffsets());
        }

        lock (group.Sync)
        {
            if (!group.Owner.IsServing)
            {
                return (ErrorCode.NotCoordinator, NoOffsets());
            }

            // KIP-848 (v9+): a consumer group member fetches at its current epoch; an admin names no member.
            if (group.Consumer is { } consumer && ValidateConsumerMemberEpoch(consumer, member.Id, member.Epoch, adminAllowed: member.Id is null) is not ErrorCode.None and var memberError)
            {
                return (memberError, NoOffsets());
            }

            FetchedOffset Fetched(TopicPartition tp) =>
                requireStable && group.HasPendingTransactionalOffset(tp) ? new FetchedOffset(tp.Partition, null, ErrorCode.UnstableOffsetCommit)
                : new FetchedOffset(tp.Partition, group.Offsets.GetValueOrDefault(tp), ErrorCode.None);

            if (topics is null)
            {
                foreach (var byTopic in group.Offsets.Keys.GroupBy(tp => tp.Topic, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
                {
                    result.Add((byTopic.Key, byTopic.OrderBy(tp => tp.Partition).Select(Fetched).ToList()));
                }
            }
            else
            {
                foreach (var (name, partitions) in topics)
                {
                    result.Add((name, partitions.Select(p => Fetched(new TopicPartition(name, p))).ToList()));
                }
            }
        }

        var written = await WaitForWrittenAsync(group, cancellationToken).ConfigureAwait(false);
        return written == ErrorCode.None ? (ErrorCode.None, result) : (written, NoOffsets());
    }

    /// <summary>OffsetDelete: drops committed offsets of topics the group does not consume (KIP-496).</summary>
    public async ValueTask<OffsetDeleteResponse> DeleteOffsetsAsync(OffsetDeleteRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new OffsetDeleteResponse();
        var coordinatorError = CheckCoordinator(request.GroupId, out _);
        if (coordinatorError != ErrorCode.None)
        {
            response.ErrorCode = (short)coordinatorError;
            return response;
        }

        var group = TryGetGroup(request.GroupId);
        if (group is null)
        {
            response.ErrorCode = (short)ErrorCode.GroupIdNotFound;
            return response;
        }

        lock (group.Sync)
        {
            var now = NowMs;
            if (!group.Owner.IsServing)
            {
                response.ErrorCode = (short)ErrorCode.NotCoordinator;
                return response;
            }

            if (group.State == GroupState.Dead)
            {
                response.ErrorCode = (short)ErrorCode.GroupIdNotFound;
                return response;
            }

            var consumerGroupInUse = group.State != GroupState.Empty;
            if (consumerGroupInUse && group.ProtocolType != "consumer")
            {
                response.ErrorCode = (short)ErrorCode.NonEmptyGroup;
                return response;
            }

            var deleted = new List<TopicPartition>();
            foreach (var topic in request.Topics)
            {
                var topicResponse = new OffsetDeleteResponse.OffsetDeleteResponseTopic { Name = topic.Name };
                response.Topics.Add(topicResponse);
                foreach (var partition in topic.Partitions)
                {
                    var result = new OffsetDeleteResponse.OffsetDeleteResponsePartition { PartitionIndex = partition.PartitionIndex };
                    topicResponse.Partitions.Add(result);
                    if (_replicas.Image.GetPartition(topic.Name, partition.PartitionIndex) is null)
                    {
                        result.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                    }
                    else if (consumerGroupInUse && group.IsSubscribedTo(topic.Name))
                    {
                        result.ErrorCode = (short)ErrorCode.GroupSubscribedToTopic;
                    }
                    else
                    {
                        deleted.Add(new TopicPartition(topic.Name, partition.PartitionIndex));
                    }
                }
            }

            // Offsets of open transactions are deleted too (Kafka's removeOffsets); the tombstone says so to a reload.
            var error = DeleteOffsetsLocked(group, deleted.Where(tp => group.Offsets.ContainsKey(tp) || group.HasPendingTransactionalOffset(tp)).ToList(), now);
            if (error != ErrorCode.None)
            {
                response.ErrorCode = (short)error;
                response.Topics.Clear();
                return response;
            }
        }

        var written = await WaitForWrittenAsync(group, cancellationToken).ConfigureAwait(false);
        if (written != ErrorCode.None)
        {
            response.ErrorCode = (short)written;
            response.Topics.Clear();
        }

        return response;
    }

    /// <summary>Writes tombstones for <paramref name="partitions"/> and forgets them. Called with the group's lock held.</summary>
    private ErrorCode DeleteOffsetsLocked(Group group, List<TopicPartition> partitions, long now)
    {
        if (partitions.Count == 0)
        {
            return ErrorCode.None;
        }

        var records = partitions.Select(tp => new RecordData(GroupRecords.OffsetCommitKey(group.GroupId, tp.Topic, tp.Partition), null, now)).ToList();
        var error = Append(group, records);
        if (error == ErrorCode.None)
        {
            foreach (var tp in partitions)
            {
                group.RemoveOffsets(tp);
            }
        }

        return error;
    }

    /// <summary>
    /// offsets.retention.minutes (KIP-211): offsets of an empty group expire that long after the group became
    /// empty; a group that only stores offsets (no protocol type) expires each offset that long after its
    /// commit; an explicit expire timestamp (OffsetCommit v2-v4) wins. An empty group left with no offsets is removed.
    /// </summary>
    private void ExpireOffsets(long now)
    {
        var retention = OffsetsRetentionMs;
        foreach (var group in _groups.Values)
        {
            lock (group.Sync)
            {
                if (!group.Owner.IsServing || group.State == GroupState.Dead)
                {
                    continue;
                }

                Func<CommittedOffset, long>? baseTimestamp = group switch
                {
                    { ProtocolType: null } => o => o.CommitTimestampMs,
                    { State: GroupState.Empty } => _ => group.StateTimestampMs,
                    { State: GroupState.Stable, ProtocolType: "consumer", SubscribedTopics: not null } or { State: GroupState.Stable, Consumer: not null } => o => o.CommitTimestampMs,
                    _ => null,
                };
                if (baseTimestamp is null)
                {
                    continue;
                }

                var expired = group.Offsets
                    .Where(o => group.State != GroupState.Stable || !group.IsSubscribedTo(o.Key.Topic))
                    .Where(o => o.Value.ExpireTimestampMs is { } expire ? now >= expire : now - baseTimestamp(o.Value) >= retention)
                    .Select(o => o.Key)
                    .ToList();
                if (expired.Count > 0 && DeleteOffsetsLocked(group, expired, now) == ErrorCode.None)
                {
                    LogOffsetsExpired(group.GroupId, expired.Count);
                }

                if (group.State == GroupState.Empty && !group.HasOffsets && Append(group, [.. GroupTombstones(group, now)]) == ErrorCode.None)
                {
                    RemoveGroup(group, now);
                    LogGroupRemoved(group.GroupId);
                }
            }
        }
    }

    [LoggerMessage(EventName = "OffsetsExpired", Level = LogLevel.Information, Message = "Group {GroupId}: {Count} offset(s) expired")]
    private partial void LogOffsetsExpired(string groupId, int count);

    [LoggerMessage(EventName = "GroupRemoved", Level = LogLevel.Information, Message = "Group {GroupId}: empty and without offsets; removed")]
    private partial void LogGroupRemoved(string groupId);
}

/// <summary>One partition of an OffsetFetch answer: its committed offset (null: none) or its error.</summary>
internal readonly record struct FetchedOffset(int Partition, CommittedOffset? Offset, ErrorCode Error);

/// <summary>One partition of a commit request that passed the per-partition checks, and where its answer goes.</summary>
internal sealed record OffsetToCommit(TopicPartition Partition, long Offset, int LeaderEpoch, string Metadata, Action<ErrorCode> Answer);
