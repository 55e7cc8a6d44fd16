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
        var results = new List<(OffsetCommitResponse.OffsetCommitResponsePartition Result, TopicPartition Tp, OffsetCommitRequest.OffsetCommitRequestPartition Request)>();
        foreach (var topic in request.Topics)
        {
            var topicResponse = new OffsetCommitResponse.OffsetCommitResponseTopic { Name = topic.Name };
            response.Topics.Add(topicResponse);
            foreach (var partition in topic.Partitions)
            {
                var result = new OffsetCommitResponse.OffsetCommitResponsePartition { PartitionIndex = partition.PartitionIndex };
                topicResponse.Partitions.Add(result);
                if (_replicas.Image.GetPartition(topic.Name, partition.PartitionIndex) is null)
                {
                    result.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                }
                else if (partition.CommittedMetadata is { } metadata && Encoding.UTF8.GetByteCount(metadata) > _options.OffsetMetadataMaxBytes)
                {
                    result.ErrorCode = (short)ErrorCode.OffsetMetadataTooLarge;
                }
                else
                {
                    results.Add((result, new TopicPartition(topic.Name, partition.PartitionIndex), partition));
                }
            }
        }

        void FailAll(ErrorCode error)
        {
            foreach (var (result, _, _) in results)
            {
                result.ErrorCode = (short)error;
            }
        }

        if (!await TryEnsureOffsetsTopicAsync(cancellationToken).ConfigureAwait(false))
        {
            FailAll(ErrorCode.CoordinatorNotAvailable);
            return response;
        }

        var coordinatorError = CheckCoordinator(request.GroupId, out var owner);
        if (coordinatorError != ErrorCode.None || owner is null)
        {
            FailAll(owner is null && coordinatorError == ErrorCode.None ? ErrorCode.CoordinatorNotAvailable : coordinatorError);
            return response;
        }

        var generation = request.GenerationIdOrMemberEpoch;
        Group committed;
        while (true)
        {
            var group = TryGetGroup(request.GroupId);
            if (group is null)
            {
                if (!owner.IsServing)
                {
                    FailAll(ErrorCode.NotCoordinator);
                    return response;
                }

                if (generation >= 0)
                {
                    // A generation of a group that no longer exists (or never did): the commit is stale.
                    FailAll(ErrorCode.IllegalGeneration);
                    return response;
                }

                group = GetOrCreateGroup(request.GroupId, owner);
            }

            lock (group.Sync)
            {
                var now = NowMs;
                if (!group.Owner.IsServing)
                {
                    FailAll(ErrorCode.NotCoordinator);
                    return response;
                }

                if (group.State == GroupState.Dead)
                {
                    continue;
                }

                var error = ValidateCommit(group, request, generation, now);
                if (error != ErrorCode.None)
                {
                    FailAll(error);
                    return response;
                }

                if (results.Count == 0)
                {
                    return response;
                }

                long? expire = version is >= 2 and <= 4 && request.RetentionTimeMs != -1 ? now + request.RetentionTimeMs : null;
                var records = new List<RecordData>(results.Count);
                var commits = new List<(TopicPartition, CommittedOffset)>(results.Count);
                foreach (var (_, tp, p) in results)
                {
                    var offset = new CommittedOffset(p.CommittedOffset, p.CommittedLeaderEpoch, p.CommittedMetadata ?? "", now, expire);
                    commits.Add((tp, offset));
                    records.Add(new RecordData(GroupRecords.OffsetCommitKey(group.GroupId, tp.Topic, tp.Partition), GroupRecords.OffsetCommitValue(offset), now));
                }

                var appended = Append(group, records);
                if (appended != ErrorCode.None)
                {
                    FailAll(appended);
                    return response;
                }

                foreach (var (tp, offset) in commits)
                {
                    group.Offsets[tp] = offset;
                }

                committed = group;
            }

            break;
        }

        // acks=all: the commit is answered once the ISR has it.
        var written = await WaitForWrittenAsync(committed, cancellationToken).ConfigureAwait(false);
        if (written != ErrorCode.None)
        {
            FailAll(written);
        }

        return response;
    }

    private static ErrorCode ValidateCommit(Group group, OffsetCommitRequest request, int generation, long now)
    {
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

    /// <summary>OffsetFetch: one group (v1-v7) or several (v8+); null topics mean every committed partition (v2+).</summary>
    public async ValueTask<OffsetFetchResponse> FetchOffsetsAsync(OffsetFetchRequest request, short version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new OffsetFetchResponse();
        if (version >= 8)
        {
            foreach (var requested in request.Groups)
            {
                var topics = requested.Topics?.Select(t => (t.Name, t.PartitionIndexes)).ToList();
                var groupResponse = new OffsetFetchResponse.OffsetFetchResponseGroup { GroupId = requested.GroupId };
                var (error, fetched) = await FetchGroupOffsetsAsync(requested.GroupId, topics, cancellationToken).ConfigureAwait(false);
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
                        })],
                    });
                }

                response.Groups.Add(groupResponse);
            }

            return response;
        }

        var single = request.Topics?.Select(t => (t.Name, t.PartitionIndexes)).ToList();
        var (singleError, singleFetched) = await FetchGroupOffsetsAsync(request.GroupId, single, cancellationToken).ConfigureAwait(false);
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
                    ErrorCode = version < 2 ? (short)singleError : (short)0,
                })],
            });
        }

        return response;
    }

    /// <summary>
    /// The committed offsets of a group, answered only once the ISR has every record they come from (a commit
    /// is visible in memory once appended; it is served once replicated). There are no transactional offsets yet,
    /// so require_stable (v7+) never has anything pending to wait for. On an error, the requested partitions come
    /// back with offset -1 (the caller puts the error where the version wants it).
    /// </summary>
    private async ValueTask<(ErrorCode Error, List<(string Topic, List<(int Partition, CommittedOffset? Offset)> Partitions)> Offsets)> FetchGroupOffsetsAsync(string groupId, List<(string Name, List<int> Partitions)>? topics, CancellationToken cancellationToken)
    {
        var result = new List<(string, List<(int, CommittedOffset?)>)>();
        List<(string, List<(int, CommittedOffset?)>)> NoOffsets() =>
            topics is null ? [] : [.. topics.Select(t => (t.Name, t.Partitions.Select(p => (p, (CommittedOffset?)null)).ToList()))];

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

            if (topics is null)
            {
                foreach (var byTopic in group.Offsets.GroupBy(o => o.Key.Topic, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
                {
                    result.Add((byTopic.Key, byTopic.OrderBy(o => o.Key.Partition).Select(o => (o.Key.Partition, (CommittedOffset?)o.Value)).ToList()));
                }
            }
            else
            {
                foreach (var (name, partitions) in topics)
                {
                    result.Add((name, partitions.Select(p => (p, group.Offsets.TryGetValue(new TopicPartition(name, p), out var o) ? o : null)).ToList()));
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

            var error = DeleteOffsetsLocked(group, deleted.Where(group.Offsets.ContainsKey).ToList(), now);
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
                group.Offsets.Remove(tp);
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
                    { State: GroupState.Stable, ProtocolType: "consumer", SubscribedTopics: not null } => o => o.CommitTimestampMs,
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

                if (group.State == GroupState.Empty && group.Offsets.Count == 0 &&
                    Append(group, [new RecordData(GroupRecords.GroupMetadataKey(group.GroupId), null, now)]) == ErrorCode.None)
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
