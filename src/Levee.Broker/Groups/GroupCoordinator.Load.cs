using Levee.Broker.Partitions;
using Levee.Protocol;
using Levee.Protocol.Records;
using Levee.Storage;
using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    /// <summary>
    /// Appends records of one group to its __consumer_offsets partition, as its leader, as one batch built and
    /// checked like any other batch, and notes the offset the ISR must reach (<see cref="Group.WrittenEnd"/>)
    /// before an answer that depends on it is sent (<see cref="WaitForWrittenAsync"/>). NOT_COORDINATOR when this
    /// broker no longer leads the partition with the epoch the group was loaded under: never append as a follower.
    /// Called with the group's lock held.
    /// </summary>
    private ErrorCode Append(Group group, List<RecordData> records) => Append(group, records, new RecordBatchOptions(), out _);

    /// <summary>
    /// <see cref="Append(Group, List{RecordData})"/> with the batch's producer fields: a transactional batch
    /// (TxnOffsetCommit) carries the producer's id and epoch. <paramref name="baseOffset"/> is where the batch landed.
    /// </summary>
    private ErrorCode Append(Group group, List<RecordData> records, in RecordBatchOptions options, out long baseOffset)
    {
        baseOffset = -1;
        if (!group.Owner.IsServing ||
            !_replicas.TryGetPartition(OffsetsTopic, group.OffsetsPartition, out var partition) ||
            !partition.IsLeader ||
            partition.LeaderEpoch != group.Owner.LeaderEpoch)
        {
            return ErrorCode.NotCoordinator;
        }

        var batch = RecordBatchBuilder.BuildToArray(options, records.ToArray());
        var validation = RecordBatchValidator.Validate(batch, new ValidationOptions { FromClient = false, MaxMessageBytes = int.MaxValue, RequireKeys = true });
        if (!validation.IsValid)
        {
            LogInvalidBatch(group.GroupId, validation.ErrorMessage);
            return ErrorCode.UnknownServerError;
        }

        try
        {
            // As Kafka's coordinators: a transactional batch carries the producer's id and epoch but no sequence, so
            // the log checks its epoch only.
            var info = partition.Append(batch, useLogAppendTime: false, AppendOrigin.Coordinator);
            group.WrittenEnd = info.LastOffset + 1;
            baseOffset = info.FirstOffset;
            return ErrorCode.None;
        }
        catch (ProducerStateException e)
        {
            // A transactional batch of a fenced producer epoch (INVALID_PRODUCER_EPOCH): nothing was written.
            return e.ErrorCode;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or ArgumentException)
        {
            LogAppendFailed(DiskSpace.StackTraceWorthy(e), group.GroupId, e.Message);
            return ErrorCode.CoordinatorNotAvailable;
        }
    }

    /// <summary>Writes the group's GroupMetadataValue (generation, leader, members with subscription and assignment).</summary>
    private ErrorCode StoreGroup(Group group, long now)
    {
        var stored = new StoredGroup(
            group.ProtocolType ?? "",
            group.GenerationId,
            group.ProtocolName,
            group.LeaderId,
            group.StateTimestampMs,
            [.. group.Members.Select(m => new StoredMember(m.MemberId, m.GroupInstanceId, m.ClientId, m.ClientHost, m.RebalanceTimeoutMs, m.SessionTimeoutMs, m.MetadataFor(group.ProtocolName), m.Assignment))]);
        return Append(group, [new RecordData(GroupRecords.GroupMetadataKey(group.GroupId), GroupRecords.GroupMetadataValue(stored), now)]);
    }

    /// <summary>
    /// Replays one __consumer_offsets partition up to <paramref name="end"/>: the last record per key wins, tombstones
    /// delete. Offsets written in a transaction (a transactional batch) are held by producer id until that producer's
    /// control batch: COMMIT applies them (unless a commit written later in the log holds the partition), ABORT drops
    /// them; those still open at <paramref name="end"/> stay pending in their groups, as Kafka loads them.
    /// </summary>
    private List<Group> LoadPartition(OwnedPartition owner, PartitionLog log, long end, long now)
    {
        var replay = new PartitionReplay();
        LogReplay.ForEachBatch(log, end, replay.Batch);

        var loaded = new List<Group>();
        foreach (var groupId in replay.GroupIds)
        {
            var stored = replay.Metadata.GetValueOrDefault(groupId);
            var groupOffsets = replay.Offsets.GetValueOrDefault(groupId);
            var pending = replay.PendingOf(groupId);
            var consumer = replay.ConsumerGroups.GetValueOrDefault(groupId) is { GroupEpoch: not null } storedConsumer ? storedConsumer : null;
            if (stored is null && consumer is null && (groupOffsets is null || groupOffsets.Count == 0) && pending.Count == 0)
            {
                continue;
            }

            var group = new Group(groupId, owner, now);

            if (stored is not null)
            {
                group.ProtocolType = stored.ProtocolType.Length > 0 ? stored.ProtocolType : null;
                group.GenerationId = stored.Generation;
                group.ProtocolName = stored.Protocol;
                group.LeaderId = stored.Leader;
                foreach (var m in stored.Members)
                {
                    var member = new Member(m.MemberId, m.GroupInstanceId, m.ClientId, m.ClientHost, m.RebalanceTimeoutMs, m.SessionTimeoutMs, stored.ProtocolType, [(stored.Protocol ?? "", m.Subscription)])
                    {
                        Assignment = m.Assignment,
                        SessionDeadlineMs = now + m.SessionTimeoutMs,
                    };
                    group.Members.Add(member);
                    if (m.GroupInstanceId is not null)
                    {
                        group.StaticMembers[m.GroupInstanceId] = m.MemberId;
                    }
                }

                // Members of a loaded group resume heartbeating with the stored generation, or expire.
                var state = group.Members.Count > 0 ? GroupState.Stable : GroupState.Empty;
                group.TransitionTo(state, stored.CurrentStateTimestampMs > 0 ? stored.CurrentStateTimestampMs : now);
                group.ComputeSubscribedTopics();
            }

            if (consumer is not null)
            {
                RestoreConsumerGroup(group, consumer, now);
            }

            foreach (var (tp, offset) in groupOffsets ?? [])
            {
                group.Offsets[tp] = offset;
            }

            foreach (var (producerId, offsets) in pending)
            {
                group.PendingTransactionalOffsets[producerId] = offsets;
            }

            loaded.Add(group);
        }

        return loaded;
    }

    /// <summary>
    /// A consumer group (KIP-848) as its records left it: its epochs, target assignment and members with their current
    /// assignments, so that members go on heartbeating at their epochs with a new coordinator. Each member's session
    /// starts again from the load.
    /// </summary>
    private void RestoreConsumerGroup(Group group, StoredConsumerGroup stored, long now)
    {
        var consumer = new ConsumerGroupData
        {
            GroupEpoch = stored.GroupEpoch ?? 0,
            AssignmentEpoch = stored.AssignmentEpoch,
            TargetAssignment = new Dictionary<string, HashSet<TopicIdPartition>>(stored.Targets, StringComparer.Ordinal),
        };
        foreach (var (memberId, metadata) in stored.Members)
        {
            var member = new ConsumerMember(memberId)
            {
                InstanceId = metadata.InstanceId,
                RackId = metadata.RackId,
                ClientId = metadata.ClientId,
                ClientHost = metadata.ClientHost,
                SubscribedTopicNames = metadata.SubscribedTopicNames,
                SubscribedTopicRegex = metadata.SubscribedTopicRegex,
                TopicRegex = metadata.SubscribedTopicRegex is { } pattern ? SubscriptionRegex(pattern) : null,
                RebalanceTimeoutMs = metadata.RebalanceTimeoutMs,
                ServerAssignor = metadata.ServerAssignor,
                SessionDeadlineMs = now + _options.GroupConsumerSessionTimeoutMs,
            };
            if (stored.Current.TryGetValue(memberId, out var current))
            {
                member.Epoch = current.MemberEpoch;
                member.PreviousEpoch = current.PreviousMemberEpoch;
                member.State = current.State;
                member.Assigned = current.Assigned;
                member.PendingRevocation = current.PendingRevocation;
                if (member.State == ConsumerMemberState.UnrevokedPartitions)
                {
                    member.RevocationDeadlineMs = now + member.RebalanceTimeoutMs;
                }
            }

            consumer.Members[memberId] = member;
            if (member.InstanceId is { } instanceId)
            {
                consumer.StaticMembers[instanceId] = memberId;
            }
        }

        consumer.AssignorName = ChooseAssignor(consumer);
        consumer.SubscribedPartitions = SubscribedPartitions(consumer, _replicas.Image);
        group.Consumer = consumer;
        group.ProtocolType = "consumer";
        group.TransitionTo(consumer.Members.Count > 0 ? GroupState.Stable : GroupState.Empty, now);
    }

    [LoggerMessage(EventName = "InvalidBatch", Level = LogLevel.Error, Message = "Group {GroupId}: built an invalid batch for __consumer_offsets: {Problem}")]
    private partial void LogInvalidBatch(string groupId, string? problem);

    [LoggerMessage(EventName = "AppendFailed", Level = LogLevel.Error, Message = "Group {GroupId}: append to __consumer_offsets failed: {Problem}")]
    private partial void LogAppendFailed(Exception? e, string groupId, string problem);
}
