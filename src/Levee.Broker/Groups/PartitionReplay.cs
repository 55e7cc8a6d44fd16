using Levee.Protocol.Records;
using Levee.Storage;
using Levee.Storage.ProducerState;

namespace Levee.Broker.Groups;

/// <summary>
/// What the batches of one __consumer_offsets partition say, replayed in log order (loading a partition): the last
/// record per key wins and tombstones delete. Offsets written in a transaction (a transactional batch, TxnOffsetCommit)
/// are held by producer id until that producer's control batch: COMMIT applies them where no commit written later in
/// the log holds the partition, ABORT drops them; those left at the end belong to transactions still open.
/// <para>
/// A tombstone of an offset, or of a group, also drops the offsets open transactions hold for it, as the coordinator
/// does in memory (Kafka's removeOffsets), so a reload answers as the coordinator did before it.
/// </para>
/// </summary>
internal sealed class PartitionReplay
{
    // producer id -> group -> partition -> offset, for transactions whose marker has not been read yet.
    private readonly Dictionary<long, Dictionary<string, Dictionary<TopicPartition, CommittedOffset>>> _pending = [];

    /// <summary>Committed offsets by group.</summary>
    public Dictionary<string, Dictionary<TopicPartition, CommittedOffset>> Offsets { get; } = new(StringComparer.Ordinal);

    /// <summary>Group metadata by group; null after a tombstone.</summary>
    public Dictionary<string, StoredGroup?> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>The consumer group protocol's (KIP-848) state by group, from its records.</summary>
    public Dictionary<string, StoredConsumerGroup> ConsumerGroups { get; } = new(StringComparer.Ordinal);

    /// <summary>Every group some record named.</summary>
    public IEnumerable<string> GroupIds =>
        Metadata.Keys.Union(Offsets.Keys, StringComparer.Ordinal).Union(_pending.Values.SelectMany(p => p.Keys), StringComparer.Ordinal)
            .Union(ConsumerGroups.Keys, StringComparer.Ordinal);

    /// <summary>The offsets of open transactions of <paramref name="groupId"/>, by producer id.</summary>
    public Dictionary<long, Dictionary<TopicPartition, CommittedOffset>> PendingOf(string groupId)
    {
        var result = new Dictionary<long, Dictionary<TopicPartition, CommittedOffset>>();
        foreach (var (producerId, groups) in _pending)
        {
            if (groups.TryGetValue(groupId, out var offsets) && offsets.Count > 0)
            {
                result[producerId] = offsets;
            }
        }

        return result;
    }

    /// <summary>Replays one whole batch.</summary>
    public void Batch(ReadOnlySpan<byte> batch)
    {
        var header = new RecordBatchHeader(batch);
        if (header.IsControl)
        {
            // A transaction marker (ABORT or COMMIT); other control records end nothing and are no group records.
            if (EndTransactionMarker.TryRead(batch, out var marker))
            {
                EndTransaction(header.ProducerId, marker.Commit);
            }

            return;
        }

        using var records = new RecordReader(batch);

        var transactional = header.IsTransactional && header.ProducerId >= 0;
        while (records.TryReadNext(out var record))
        {
            if (record.KeyIsNull)
            {
                continue;
            }

            var key = GroupRecords.ReadKey(record.Key.ToArray());
            var groupId = key.Group;
            if (key.Kind is not GroupRecordKind.Offset and not GroupRecordKind.GroupMetadata)
            {
                ConsumerRecord(key, record.ValueIsNull ? null : record.Value.ToArray());
                continue;
            }

            if (key.Kind == GroupRecordKind.GroupMetadata)
            {
                Metadata[groupId] = record.ValueIsNull ? null : GroupRecords.ReadGroupMetadataValue(record.Value.ToArray());
                if (record.ValueIsNull)
                {
                    // A group tombstone follows its offsets' tombstones; drop any left, as Kafka does.
                    Offsets.Remove(groupId);
                    ConsumerGroups.Remove(groupId);
                    foreach (var groups in _pending.Values)
                    {
                        groups.Remove(groupId);
                    }
                }

                continue;
            }

            var tp = new TopicPartition(key.Topic!, key.Partition);
            var offset = record.ValueIsNull ? null : GroupRecords.ReadOffsetCommitValue(record.Value.ToArray()) with { RecordOffset = header.BaseOffset };
            if (transactional)
            {
                var offsets = Slot(Slot(_pending, header.ProducerId, () => new Dictionary<string, Dictionary<TopicPartition, CommittedOffset>>(StringComparer.Ordinal)), groupId, () => []);
                if (offset is null)
                {
                    offsets.Remove(tp);
                }
                else
                {
                    offsets[tp] = offset;
                }

                continue;
            }

            var committed = Slot(Offsets, groupId, () => []);
            if (offset is null)
            {
                committed.Remove(tp);
                foreach (var groups in _pending.Values)
                {
                    if (groups.TryGetValue(groupId, out var pending))
                    {
                        pending.Remove(tp);
                    }
                }
            }
            else
            {
                committed[tp] = offset;
            }
        }
    }

    /// <summary>One record of the consumer group protocol: the last per key wins, a tombstone deletes.</summary>
    private void ConsumerRecord(GroupRecordKey key, byte[]? value)
    {
        if (key.Kind == GroupRecordKind.ConsumerGroupPartitionMetadata)
        {
            // Kafka's record of the subscribed topics' metadata: Levee reads the topics from the image instead.
            return;
        }

        if (key.Kind == GroupRecordKind.ConsumerGroupMetadata && value is null)
        {
            ConsumerGroups.Remove(key.Group);
            return;
        }

        var group = Slot(ConsumerGroups, key.Group, () => new StoredConsumerGroup());
        var memberId = key.MemberId ?? "";
        switch (key.Kind)
        {
            case GroupRecordKind.ConsumerGroupMetadata:
                group.GroupEpoch = ConsumerGroupRecords.ReadEpochValue(value!);
                break;
            case GroupRecordKind.ConsumerGroupTargetAssignmentMetadata:
                group.AssignmentEpoch = value is null ? 0 : ConsumerGroupRecords.ReadEpochValue(value);
                break;
            case GroupRecordKind.ConsumerGroupMemberMetadata:
                Set(group.Members, memberId, value, ConsumerGroupRecords.ReadMemberMetadataValue);
                break;
            case GroupRecordKind.ConsumerGroupTargetAssignmentMember:
                Set(group.Targets, memberId, value, ConsumerGroupRecords.ReadTargetMemberValue);
                break;
            case GroupRecordKind.ConsumerGroupCurrentMemberAssignment:
                Set(group.Current, memberId, value, ConsumerGroupRecords.ReadCurrentAssignmentValue);
                break;
            default:
                break;
        }
    }

    private static void Set<T>(Dictionary<string, T> map, string memberId, byte[]? value, Func<ReadOnlyMemory<byte>, T> read)
    {
        if (value is null)
        {
            map.Remove(memberId);
        }
        else
        {
            map[memberId] = read(value);
        }
    }

    private static TValue Slot<TKey, TValue>(Dictionary<TKey, TValue> map, TKey key, Func<TValue> create)
        where TKey : notnull
    {
        if (!map.TryGetValue(key, out var value))
        {
            map[key] = value = create();
        }

        return value;
    }

    /// <summary>A producer's marker: its offsets are committed (where not older than the committed ones) or dropped.</summary>
    private void EndTransaction(long producerId, bool commit)
    {
        if (!_pending.Remove(producerId, out var groups) || !commit)
        {
            return;
        }

        foreach (var (groupId, offsets) in groups)
        {
            Group.ApplyCommittedTransaction(Slot(Offsets, groupId, () => []), offsets);
        }
    }
}

/// <summary>A consumer group (KIP-848) as its records left it; <see cref="GroupEpoch"/> is null until its metadata record is read.</summary>
internal sealed class StoredConsumerGroup
{
    public int? GroupEpoch { get; set; }

    public int AssignmentEpoch { get; set; }

    public Dictionary<string, StoredConsumerMember> Members { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, HashSet<TopicIdPartition>> Targets { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, StoredMemberAssignment> Current { get; } = new(StringComparer.Ordinal);
}
