using Levee.Protocol;
using Levee.Protocol.Records;
using Levee.Storage;
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
    private ErrorCode Append(Group group, List<RecordData> records)
    {
        if (!group.Owner.IsServing ||
            !_replicas.TryGetPartition(OffsetsTopic, group.OffsetsPartition, out var partition) ||
            !partition.IsLeader ||
            partition.LeaderEpoch != group.Owner.LeaderEpoch)
        {
            return ErrorCode.NotCoordinator;
        }

        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), records.ToArray());
        var validation = RecordBatchValidator.Validate(batch, new ValidationOptions { FromClient = false, MaxMessageBytes = int.MaxValue, RequireKeys = true });
        if (!validation.IsValid)
        {
            LogInvalidBatch(group.GroupId, validation.ErrorMessage);
            return ErrorCode.UnknownServerError;
        }

        try
        {
            var info = partition.Append(batch, useLogAppendTime: false);
            group.WrittenEnd = info.LastOffset + 1;
            return ErrorCode.None;
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

    /// <summary>Replays one __consumer_offsets partition up to <paramref name="end"/>: the last record per key wins, tombstones delete.</summary>
    private static List<Group> LoadPartition(OwnedPartition owner, PartitionLog log, long end, long now)
    {
        var offsets = new Dictionary<string, Dictionary<TopicPartition, CommittedOffset>>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, StoredGroup?>(StringComparer.Ordinal);
        var position = log.LogStartOffset;
        while (position < end)
        {
            var read = log.Read(position, 1 << 20, end, minOneBatch: true);
            if (read.Length == 0)
            {
                break;
            }

            var buffer = new byte[read.Length];
            read.CopyTo(buffer);
            var at = 0;
            while (at + RecordBatchHeader.Size <= buffer.Length)
            {
                var header = new RecordBatchHeader(buffer.AsSpan(at));
                var total = header.TotalSize;
                if (at + total > buffer.Length)
                {
                    break;
                }

                if (!header.IsControl)
                {
                    using var records = new RecordReader(buffer.AsSpan(at, total));
                    while (records.TryReadNext(out var record))
                    {
                        if (record.KeyIsNull)
                        {
                            continue;
                        }

                        var (isOffset, groupId, topicName, partition) = GroupRecords.ReadKey(record.Key.ToArray());
                        if (isOffset)
                        {
                            if (!offsets.TryGetValue(groupId, out var groupOffsets))
                            {
                                offsets[groupId] = groupOffsets = [];
                            }

                            var tp = new TopicPartition(topicName!, partition);
                            if (record.ValueIsNull)
                            {
                                groupOffsets.Remove(tp);
                            }
                            else
                            {
                                groupOffsets[tp] = GroupRecords.ReadOffsetCommitValue(record.Value.ToArray());
                            }
                        }
                        else
                        {
                            metadata[groupId] = record.ValueIsNull ? null : GroupRecords.ReadGroupMetadataValue(record.Value.ToArray());
                            if (record.ValueIsNull)
                            {
                                // A group tombstone follows its offsets' tombstones; drop any left, as Kafka does.
                                offsets.Remove(groupId);
                            }
                        }
                    }
                }

                position = header.LastOffset + 1;
                at += total;
            }
        }

        var loaded = new List<Group>();
        foreach (var groupId in metadata.Keys.Union(offsets.Keys).ToList())
        {
            var stored = metadata.GetValueOrDefault(groupId);
            var groupOffsets = offsets.GetValueOrDefault(groupId);
            if (stored is null && (groupOffsets is null || groupOffsets.Count == 0))
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

            foreach (var (tp, offset) in groupOffsets ?? [])
            {
                group.Offsets[tp] = offset;
            }

            loaded.Add(group);
        }

        return loaded;
    }

    [LoggerMessage(EventName = "InvalidBatch", Level = LogLevel.Error, Message = "Group {GroupId}: built an invalid batch for __consumer_offsets: {Problem}")]
    private partial void LogInvalidBatch(string groupId, string? problem);

    [LoggerMessage(EventName = "AppendFailed", Level = LogLevel.Error, Message = "Group {GroupId}: append to __consumer_offsets failed: {Problem}")]
    private partial void LogAppendFailed(Exception? e, string groupId, string problem);
}
