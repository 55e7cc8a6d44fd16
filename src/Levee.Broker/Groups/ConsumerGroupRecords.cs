using Levee.Protocol;

namespace Levee.Broker.Groups;

/// <summary>A consumer group member's subscription as stored (ConsumerGroupMemberMetadataValue).</summary>
internal sealed record StoredConsumerMember(string? InstanceId, string? RackId, string ClientId, string ClientHost, IReadOnlyList<string> SubscribedTopicNames, string? SubscribedTopicRegex, int RebalanceTimeoutMs, string? ServerAssignor);

/// <summary>A consumer group member's current assignment as stored (ConsumerGroupCurrentMemberAssignmentValue).</summary>
internal sealed record StoredMemberAssignment(int MemberEpoch, int PreviousMemberEpoch, ConsumerMemberState State, HashSet<TopicIdPartition> Assigned, HashSet<TopicIdPartition> PendingRevocation);

/// <summary>
/// The consumer group protocol's (KIP-848) records of __consumer_offsets, in Kafka's format (group-coordinator
/// ConsumerGroup*Key/Value): keys are an int16 version (the record type, 3 to 8) and non-flexible strings, values
/// an int16 version 0 and flexible fields with a tagged-field section. Written by hand, as <see cref="GroupRecords"/>.
/// </summary>
internal static class ConsumerGroupRecords
{
    public static byte[] GroupKey(GroupRecordKind kind, string group) => GroupRecords.Write((ref KafkaWriter w) =>
    {
        w.WriteInt16((short)kind);
        w.WriteString(group, compact: false);
    });

    public static byte[] MemberKey(GroupRecordKind kind, string group, string memberId) => GroupRecords.Write((ref KafkaWriter w) =>
    {
        w.WriteInt16((short)kind);
        w.WriteString(group, compact: false);
        w.WriteString(memberId, compact: false);
    });

    /// <summary>ConsumerGroupMetadataValue (the group epoch) or ConsumerGroupTargetAssignmentMetadataValue (the assignment epoch).</summary>
    public static byte[] EpochValue(int epoch) => GroupRecords.Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(0);
        w.WriteInt32(epoch);
        w.WriteUnsignedVarInt(0);
    });

    public static int ReadEpochValue(ReadOnlyMemory<byte> value)
    {
        var r = Value(value);
        var epoch = r.ReadInt32();
        r.SkipTaggedFields();
        return epoch;
    }

    public static byte[] MemberMetadataValue(ConsumerMember member) => GroupRecords.Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(0);
        w.WriteNullableString(member.InstanceId, compact: true);
        w.WriteNullableString(member.RackId, compact: true);
        w.WriteString(member.ClientId, compact: true);
        w.WriteString(member.ClientHost, compact: true);
        w.WriteArrayLength(member.SubscribedTopicNames.Count, compact: true);
        foreach (var topic in member.SubscribedTopicNames)
        {
            w.WriteString(topic, compact: true);
        }

        w.WriteNullableString(member.SubscribedTopicRegex, compact: true);
        w.WriteInt32(member.RebalanceTimeoutMs);
        w.WriteNullableString(member.ServerAssignor, compact: true);
        w.WriteUnsignedVarInt(0);
    });

    public static StoredConsumerMember ReadMemberMetadataValue(ReadOnlyMemory<byte> value)
    {
        var r = Value(value);
        var instanceId = r.ReadNullableString(compact: true);
        var rackId = r.ReadNullableString(compact: true);
        var clientId = r.ReadString(compact: true);
        var clientHost = r.ReadString(compact: true);
        var count = r.ReadArrayLength(compact: true);
        var topics = new List<string>(Math.Max(count, 0));
        for (var i = 0; i < count; i++)
        {
            topics.Add(r.ReadString(compact: true));
        }

        var regex = r.ReadNullableString(compact: true);
        var rebalanceTimeoutMs = r.ReadInt32();
        var assignor = r.ReadNullableString(compact: true);
        r.SkipTaggedFields();
        return new StoredConsumerMember(instanceId, rackId, clientId, clientHost, topics, regex, rebalanceTimeoutMs, assignor);
    }

    /// <summary>ConsumerGroupTargetAssignmentMemberValue.</summary>
    public static byte[] TargetMemberValue(IReadOnlySet<TopicIdPartition> target) => GroupRecords.Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(0);
        WritePartitions(ref w, target);
        w.WriteUnsignedVarInt(0);
    });

    public static HashSet<TopicIdPartition> ReadTargetMemberValue(ReadOnlyMemory<byte> value)
    {
        var r = Value(value);
        var target = ReadPartitions(ref r);
        r.SkipTaggedFields();
        return target;
    }

    /// <summary>ConsumerGroupCurrentMemberAssignmentValue; the state as Kafka's MemberState numbers it (1 stable, 2 unrevoked, 3 unreleased).</summary>
    public static byte[] CurrentAssignmentValue(ConsumerMember member) => GroupRecords.Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(0);
        w.WriteInt32(member.Epoch);
        w.WriteInt32(member.PreviousEpoch);
        w.WriteInt8((sbyte)(member.State + 1));
        WritePartitions(ref w, member.Assigned);
        WritePartitions(ref w, member.PendingRevocation);
        w.WriteUnsignedVarInt(0);
    });

    public static StoredMemberAssignment ReadCurrentAssignmentValue(ReadOnlyMemory<byte> value)
    {
        var r = Value(value);
        var epoch = r.ReadInt32();
        var previous = r.ReadInt32();
        var state = r.ReadInt8() switch
        {
            2 => ConsumerMemberState.UnrevokedPartitions,
            3 => ConsumerMemberState.UnreleasedPartitions,
            _ => ConsumerMemberState.Stable,
        };
        var assigned = ReadPartitions(ref r);
        var pending = ReadPartitions(ref r);
        r.SkipTaggedFields();
        return new StoredMemberAssignment(epoch, previous, state, assigned, pending);
    }

    private static KafkaReader Value(ReadOnlyMemory<byte> value)
    {
        var r = new KafkaReader(value);
        var version = r.ReadInt16();
        return version == 0 ? r : throw new KafkaProtocolException($"Unknown consumer group record value version {version}.");
    }

    private static void WritePartitions(ref KafkaWriter w, IEnumerable<TopicIdPartition> partitions)
    {
        var byTopic = partitions.GroupBy(tp => tp.TopicId).OrderBy(g => g.Key).ToList();
        w.WriteArrayLength(byTopic.Count, compact: true);
        foreach (var topic in byTopic)
        {
            w.WriteUuid(topic.Key);
            var indexes = topic.Select(tp => tp.Partition).Order().ToList();
            w.WriteArrayLength(indexes.Count, compact: true);
            foreach (var p in indexes)
            {
                w.WriteInt32(p);
            }

            w.WriteUnsignedVarInt(0);
        }
    }

    private static HashSet<TopicIdPartition> ReadPartitions(ref KafkaReader r)
    {
        var result = new HashSet<TopicIdPartition>();
        var topics = r.ReadArrayLength(compact: true);
        for (var t = 0; t < topics; t++)
        {
            var topicId = r.ReadUuid();
            var count = r.ReadArrayLength(compact: true);
            for (var i = 0; i < count; i++)
            {
                result.Add(new TopicIdPartition(topicId, r.ReadInt32()));
            }

            r.SkipTaggedFields();
        }

        return result;
    }
}
