using System.Collections.Immutable;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Cluster.Controller;

/// <summary>
/// Leader and ISR decisions of the controller, as pure functions of the metadata image: what
/// records move leadership off a broker that is fenced or shutting down, what records give an
/// offline partition a leader again, and which leader is preferred. Kafka's rules: a new leader
/// comes from the ISR (unclean election is off by default), the ISR never becomes empty (the last
/// member stays in it so a later election can choose it), and a fenced broker leads nothing.
/// </summary>
public static class PartitionLeadership
{
    /// <summary>Records that take <paramref name="brokerId"/> out of every ISR and leadership.</summary>
    public static IReadOnlyList<MetadataRecord> RemoveBroker(MetadataImage image, int brokerId)
    {
        ArgumentNullException.ThrowIfNull(image);
        var records = new List<MetadataRecord>();
        foreach (var topic in image.TopicsById.Values)
        {
            foreach (var partition in topic.Partitions.Values)
            {
                if (!partition.Isr.Contains(brokerId) && partition.Leader != brokerId)
                {
                    continue;
                }

                var isr = partition.Isr.Length > 1 ? partition.Isr.Remove(brokerId) : partition.Isr;
                var leader = partition.Leader;
                if (leader == brokerId)
                {
                    leader = ChooseLeader(image, partition.Replicas, isr, exclude: brokerId);
                }

                if (isr.SequenceEqual(partition.Isr) && leader == partition.Leader)
                {
                    continue;
                }

                records.Add(new PartitionChangeRecord(
                    partition.TopicId,
                    partition.PartitionId,
                    isr.SequenceEqual(partition.Isr) ? null : isr,
                    leader == partition.Leader ? PartitionChangeRecord.NoLeaderChange : leader));
            }
        }

        return records;
    }

    /// <summary>Records that give partitions without a leader one, when an ISR member is now available.</summary>
    public static IReadOnlyList<MetadataRecord> ElectOffline(MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var records = new List<MetadataRecord>();
        foreach (var partition in image.TopicsById.Values.SelectMany(t => t.Partitions.Values))
        {
            if (partition.Leader >= 0)
            {
                continue;
            }

            var leader = ChooseLeader(image, partition.Replicas, partition.Isr, exclude: -1);
            if (leader >= 0)
            {
                records.Add(new PartitionChangeRecord(partition.TopicId, partition.PartitionId, Leader: leader));
            }
        }

        return records;
    }

    /// <summary>
    /// Records that hand leadership back to each partition's preferred replica (the first one) where
    /// it is in the ISR and available: Kafka's automatic leader rebalancing.
    /// </summary>
    public static IReadOnlyList<MetadataRecord> ElectPreferred(MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var records = new List<MetadataRecord>();
        foreach (var partition in image.TopicsById.Values.SelectMany(t => t.Partitions.Values))
        {
            var preferred = partition.Replicas.IsEmpty ? -1 : partition.Replicas[0];
            if (preferred >= 0 && partition.Leader != preferred && partition.Isr.Contains(preferred) && IsAvailable(image, preferred))
            {
                records.Add(new PartitionChangeRecord(partition.TopicId, partition.PartitionId, Leader: preferred));
            }
        }

        return records;
    }

    /// <summary>
    /// An election asked for by an operator (ElectLeaders, KIP-460) of one partition: <paramref name="unclean"/> false
    /// moves leadership to the preferred replica (ELECTION_NOT_NEEDED when it leads already,
    /// PREFERRED_LEADER_NOT_AVAILABLE when it is not in the ISR or not available); true gives a partition without a
    /// leader one, from the ISR if a member is available, else from any available replica, which becomes the ISR on
    /// its own and may have lost acknowledged records (ELECTION_NOT_NEEDED when it has a leader,
    /// ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is available).
    /// </summary>
    public static (ErrorCode Error, string? Message, PartitionChangeRecord? Record) Elect(MetadataImage image, PartitionImage partition, bool unclean)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(partition);
        if (!unclean)
        {
            var preferred = partition.Replicas[0];
            if (partition.Leader == preferred)
            {
                return (ErrorCode.ElectionNotNeeded, "Leader election not needed for topic partition.", null);
            }

            return partition.Isr.Contains(preferred) && IsAvailable(image, preferred)
                ? (ErrorCode.None, null, new PartitionChangeRecord(partition.TopicId, partition.PartitionId, Leader: preferred))
                : (ErrorCode.PreferredLeaderNotAvailable, $"Failed to elect leader for partition: the preferred replica {preferred} is not in the ISR or not available.", null);
        }

        if (partition.Leader >= 0 && IsAvailable(image, partition.Leader))
        {
            return (ErrorCode.ElectionNotNeeded, "Leader election not needed for topic partition.", null);
        }

        var clean = ChooseLeader(image, partition.Replicas, partition.Isr, exclude: -1);
        if (clean >= 0)
        {
            return (ErrorCode.None, null, new PartitionChangeRecord(partition.TopicId, partition.PartitionId, Leader: clean));
        }

        var any = FirstInSync(partition.Replicas.AsSpan(), partition.Replicas.AsSpan(), replica => IsAvailable(image, replica));
        return any >= 0
            ? (ErrorCode.None, null, new PartitionChangeRecord(partition.TopicId, partition.PartitionId, Isr: [any], Leader: any))
            : (ErrorCode.EligibleLeadersNotAvailable, "Failed to elect leader for partition: no replica is available.", null);
    }

    /// <summary>The first replica, in preferred order, that is in the ISR and available; -1 when none is.</summary>
    public static int ChooseLeader(MetadataImage image, ImmutableArray<int> replicas, ImmutableArray<int> isr, int exclude)
    {
        ArgumentNullException.ThrowIfNull(image);
        return FirstInSync(replicas.AsSpan(), isr.AsSpan(), replica => replica != exclude && IsAvailable(image, replica));
    }

    /// <summary>
    /// Kafka's election rule, the one every leader choice of the controller, its capacity model and the fleet simulator
    /// makes: the first replica, in preferred order, that is in the ISR and <paramref name="canLead"/>; -1 when none is.
    /// </summary>
    public static int FirstInSync(ReadOnlySpan<int> replicas, ReadOnlySpan<int> isr, Func<int, bool> canLead)
    {
        ArgumentNullException.ThrowIfNull(canLead);
        foreach (var replica in replicas)
        {
            if (isr.Contains(replica) && canLead(replica))
            {
                return replica;
            }
        }

        return -1;
    }

    /// <summary>A broker is available to lead when it is registered, not fenced and not shutting down.</summary>
    public static bool IsAvailable(MetadataImage image, int brokerId)
    {
        ArgumentNullException.ThrowIfNull(image);
        return image.Brokers.TryGetValue(brokerId, out var broker) && !broker.Fenced && !broker.InControlledShutdown;
    }
}
