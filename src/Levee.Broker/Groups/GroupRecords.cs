using System.Buffers;
using Levee.Protocol;

namespace Levee.Broker.Groups;

/// <summary>A member as stored in GroupMetadataValue.</summary>
internal sealed record StoredMember(string MemberId, string? GroupInstanceId, string ClientId, string ClientHost, int RebalanceTimeoutMs, int SessionTimeoutMs, byte[] Subscription, byte[] Assignment);

/// <summary>What a __consumer_offsets key is, by its version (Kafka's record types).</summary>
internal enum GroupRecordKind
{
    Offset = 1,
    GroupMetadata = 2,
    ConsumerGroupMetadata = 3,
    ConsumerGroupPartitionMetadata = 4,
    ConsumerGroupMemberMetadata = 5,
    ConsumerGroupTargetAssignmentMetadata = 6,
    ConsumerGroupTargetAssignmentMember = 7,
    ConsumerGroupCurrentMemberAssignment = 8,
}

/// <summary>A __consumer_offsets key: its kind, group, and the partition (offsets) or member (member records) it names.</summary>
internal readonly record struct GroupRecordKey(GroupRecordKind Kind, string Group, string? Topic, int Partition, string? MemberId);

/// <summary>A group as stored in GroupMetadataValue.</summary>
internal sealed record StoredGroup(string ProtocolType, int Generation, string? Protocol, string? Leader, long CurrentStateTimestampMs, IReadOnlyList<StoredMember> Members);

/// <summary>
/// The records of __consumer_offsets, in Kafka's own format (group-coordinator/OffsetCommitKey, OffsetCommitValue,
/// GroupMetadataKey, GroupMetadataValue): a key and a value, each an int16 version followed by the fields. Key
/// versions 0 and 1 are offset commits, 2 is group metadata; a null value is a tombstone. Written by hand rather
/// than generated: four small structs, and the reader must accept every version Kafka ever wrote.
/// </summary>
internal static class GroupRecords
{
    public const short OffsetCommitKeyVersion = 1;
    public const short GroupMetadataKeyVersion = 2;

    public static byte[] OffsetCommitKey(string group, string topic, int partition) => Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(OffsetCommitKeyVersion);
        w.WriteString(group, compact: false);
        w.WriteString(topic, compact: false);
        w.WriteInt32(partition);
    });

    public static byte[] GroupMetadataKey(string group) => Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(GroupMetadataKeyVersion);
        w.WriteString(group, compact: false);
    });

    /// <summary>OffsetCommitValue v3, or v1 when the commit carries an explicit expire timestamp (OffsetCommit v2-v4 retention time), as Kafka writes them.</summary>
    public static byte[] OffsetCommitValue(CommittedOffset offset) => Write((ref KafkaWriter w) =>
    {
        if (offset.ExpireTimestampMs is { } expire)
        {
            w.WriteInt16(1);
            w.WriteInt64(offset.Offset);
            w.WriteString(offset.Metadata, compact: false);
            w.WriteInt64(offset.CommitTimestampMs);
            w.WriteInt64(expire);
            return;
        }

        w.WriteInt16(3);
        w.WriteInt64(offset.Offset);
        w.WriteInt32(offset.LeaderEpoch);
        w.WriteString(offset.Metadata, compact: false);
        w.WriteInt64(offset.CommitTimestampMs);
    });

    /// <summary>GroupMetadataValue v3.</summary>
    public static byte[] GroupMetadataValue(StoredGroup group) => Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(3);
        w.WriteString(group.ProtocolType, compact: false);
        w.WriteInt32(group.Generation);
        w.WriteNullableString(group.Protocol, compact: false);
        w.WriteNullableString(group.Leader, compact: false);
        w.WriteInt64(group.CurrentStateTimestampMs);
        w.WriteArrayLength(group.Members.Count, compact: false);
        foreach (var m in group.Members)
        {
            w.WriteString(m.MemberId, compact: false);
            w.WriteNullableString(m.GroupInstanceId, compact: false);
            w.WriteString(m.ClientId, compact: false);
            w.WriteString(m.ClientHost, compact: false);
            w.WriteInt32(m.RebalanceTimeoutMs);
            w.WriteInt32(m.SessionTimeoutMs);
            w.WriteBytes(m.Subscription, compact: false);
            w.WriteBytes(m.Assignment, compact: false);
        }
    });

    /// <summary>
    /// Reads a key: an offset commit (versions 0-1), group metadata (2), or one of the consumer group protocol's
    /// records (3-8, KIP-848; see <see cref="ConsumerGroupRecords"/>).
    /// </summary>
    public static GroupRecordKey ReadKey(ReadOnlyMemory<byte> key)
    {
        var r = new KafkaReader(key);
        var version = r.ReadInt16();
        var group = version is >= 0 and <= 8 ? r.ReadString(compact: false) : "";
        return version switch
        {
            0 or 1 => new GroupRecordKey(GroupRecordKind.Offset, group, r.ReadString(compact: false), r.ReadInt32(), null),
            2 => new GroupRecordKey(GroupRecordKind.GroupMetadata, group, null, -1, null),
            3 or 4 or 6 => new GroupRecordKey((GroupRecordKind)version, group, null, -1, null),
            5 or 7 or 8 => new GroupRecordKey((GroupRecordKind)version, group, null, -1, r.ReadString(compact: false)),
            _ => throw new KafkaProtocolException($"Unknown __consumer_offsets key version {version}."),
        };
    }

    public static CommittedOffset ReadOffsetCommitValue(ReadOnlyMemory<byte> value)
    {
        var r = new KafkaReader(value);
        var version = r.ReadInt16();
        if (version is < 0 or > 4)
        {
            throw new KafkaProtocolException($"Unknown OffsetCommitValue version {version}.");
        }

        var flexible = version >= 4;
        var offset = r.ReadInt64();
        var leaderEpoch = version >= 3 ? r.ReadInt32() : -1;
        var metadata = r.ReadString(flexible);
        var commitTimestamp = r.ReadInt64();
        long? expire = version == 1 ? r.ReadInt64() : null;
        return new CommittedOffset(offset, leaderEpoch, metadata, commitTimestamp, expire is -1 ? null : expire);
    }

    public static StoredGroup ReadGroupMetadataValue(ReadOnlyMemory<byte> value)
    {
        var r = new KafkaReader(value);
        var version = r.ReadInt16();
        if (version is < 0 or > 4)
        {
            throw new KafkaProtocolException($"Unknown GroupMetadataValue version {version}.");
        }

        var flexible = version >= 4;
        var protocolType = r.ReadString(flexible);
        var generation = r.ReadInt32();
        var protocol = r.ReadNullableString(flexible);
        var leader = r.ReadNullableString(flexible);
        var timestamp = version >= 2 ? r.ReadInt64() : -1;
        var count = r.ReadArrayLength(flexible);
        var members = new List<StoredMember>(Math.Max(count, 0));
        for (var i = 0; i < count; i++)
        {
            var memberId = r.ReadString(flexible);
            var instanceId = version >= 3 ? r.ReadNullableString(flexible) : null;
            var clientId = r.ReadString(flexible);
            var clientHost = r.ReadString(flexible);
            var rebalanceTimeout = version >= 1 ? r.ReadInt32() : -1;
            var sessionTimeout = r.ReadInt32();
            var subscription = r.ReadBytes(flexible);
            var assignment = r.ReadBytes(flexible);
            if (flexible)
            {
                r.SkipTaggedFields();
            }

            members.Add(new StoredMember(memberId, instanceId, clientId, clientHost, rebalanceTimeout == -1 ? sessionTimeout : rebalanceTimeout, sessionTimeout, subscription, assignment));
        }

        return new StoredGroup(protocolType, generation, protocol, leader, timestamp, members);
    }

    internal static byte[] Write(WriteAction body)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        var writer = new KafkaWriter(buffer);
        body(ref writer);
        return buffer.WrittenSpan.ToArray();
    }

    internal delegate void WriteAction(ref KafkaWriter writer);
}
