using System.Collections.Immutable;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Cluster.Controller;

/// <summary>A controller decision: the records to commit, or Kafka's error code and message.</summary>
public sealed record Decision(ErrorCode Error, string? Message, IReadOnlyList<MetadataRecord> Records)
{
    /// <summary>A refusal.</summary>
    public static Decision Fail(ErrorCode error, string message) => new(error, message, []);

    /// <summary>Records to commit.</summary>
    public static Decision Commit(IReadOnlyList<MetadataRecord> records) => new(ErrorCode.None, null, records);
}

/// <summary>
/// The controller's topic and ISR decisions as pure functions of the metadata image, so they are
/// unit-tested without a quorum and replayed identically by whichever node leads it.
/// </summary>
public static class ControllerDecisions
{
    /// <summary>
    /// A new topic: a topic record, one partition record per partition (replicas placed by
    /// <see cref="ReplicaPlacement"/> on available brokers unless given, leader the first replica,
    /// ISR all replicas), and its config overrides.
    /// </summary>
    public static Decision CreateTopic(MetadataImage image, string name, Guid topicId, int partitions, short replicationFactor, IReadOnlyList<ImmutableArray<int>>? assignment, IReadOnlyDictionary<string, string> configs, Random random, AdminLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(configs);
        limits ??= AdminLimits.Default;
        if (image.TopicsByName.ContainsKey(name))
        {
            return Decision.Fail(ErrorCode.TopicAlreadyExists, $"Topic '{name}' already exists.");
        }

        // Bounds first, before any placement is computed: a request for 100,000 partitions is refused at once.
        var count = assignment?.Count ?? partitions;
        if ((limits.CheckPartitionCount(name, count)
            ?? limits.CheckRecords(AdminLimits.RecordsForTopic(count, configs.Count), $"Creating topic '{name}'")
            ?? TenantControl.CheckPartitions(image, name, count)) is { } tooLarge)
        {
            return tooLarge;
        }

        var available = image.Brokers.Values.Where(b => !b.Fenced && !b.InControlledShutdown).Select(b => b.Id).ToList();
        IReadOnlyList<ImmutableArray<int>> replicas;
        if (assignment is not null)
        {
            if (CheckAssignment(image, assignment, replicationFactor: null) is { } refused)
            {
                return refused;
            }

            replicas = assignment;
        }
        else
        {
            if (partitions <= 0)
            {
                return Decision.Fail(ErrorCode.InvalidPartitions, "Number of partitions must be larger than 0.");
            }

            if (replicationFactor <= 0)
            {
                return Decision.Fail(ErrorCode.InvalidReplicationFactor, "Replication factor must be larger than 0.");
            }

            if (replicationFactor > available.Count)
            {
                return Decision.Fail(ErrorCode.InvalidReplicationFactor, $"Unable to replicate the partition {replicationFactor} time(s): The target replication factor of {replicationFactor} cannot be reached because only {available.Count} broker(s) are registered.");
            }

            replicas = ReplicaPlacement.Assign(image, available, partitions, replicationFactor, random, r => image.Apply(Records(r)), limits);
        }

        return Guarded(image, Records(replicas), limits, $"Creating topic '{name}'");

        List<MetadataRecord> Records(IReadOnlyList<ImmutableArray<int>> placed)
        {
            var records = new List<MetadataRecord> { new TopicRecord(name, topicId) };
            for (var i = 0; i < placed.Count; i++)
            {
                var leader = PartitionLeadership.ChooseLeader(image, placed[i], placed[i], exclude: -1);
                records.Add(new PartitionRecord(topicId, i, placed[i], placed[i], leader));
            }

            foreach (var (key, value) in configs.OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                records.Add(new ConfigRecord(ConfigResourceType.Topic, name, key, value));
            }

            return records;
        }
    }

    /// <summary>
    /// More partitions for an existing topic: placed like new ones, or where <paramref name="assignment"/> says (one
    /// replica list per new partition, each as long as the topic's replication factor, of registered brokers not all
    /// fenced), as Kafka's controller checks them.
    /// </summary>
    public static Decision CreatePartitions(MetadataImage image, string name, int count, Random random, AdminLimits? limits = null, IReadOnlyList<ImmutableArray<int>>? assignment = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        limits ??= AdminLimits.Default;
        if (!image.TopicsByName.TryGetValue(name, out var topic))
        {
            return Decision.Fail(ErrorCode.UnknownTopicOrPartition, "This server does not host this topic-partition.");
        }

        var current = topic.Partitions.Count;
        if (count < current)
        {
            return Decision.Fail(ErrorCode.InvalidPartitions, $"Topic currently has {current} partitions, which is higher than the requested {count}.");
        }

        if (count == current)
        {
            return Decision.Fail(ErrorCode.InvalidPartitions, $"Topic already has {current} partitions.");
        }

        if ((limits.CheckPartitionCount(name, count)
            ?? limits.CheckRecords(count - current, $"Adding {count - current} partitions to '{name}'")
            ?? TenantControl.CheckPartitions(image, name, count - current)) is { } tooLarge)
        {
            return tooLarge;
        }

        var replicationFactor = topic.Partitions.Values.First().Replicas.Length;
        if (assignment is not null)
        {
            if (assignment.Count != count - current)
            {
                return Decision.Fail(ErrorCode.InvalidReplicaAssignment, $"Attempted to add {count - current} additional partition(s), but only {assignment.Count} assignment(s) were specified.");
            }

            return CheckAssignment(image, assignment, replicationFactor) ?? Guarded(image, Records(assignment), limits, $"Adding {count - current} partitions to '{name}'");
        }

        var available = image.Brokers.Values.Where(b => !b.Fenced && !b.InControlledShutdown).Select(b => b.Id).ToList();
        if (replicationFactor > available.Count)
        {
            return Decision.Fail(ErrorCode.InvalidReplicationFactor, $"Unable to replicate the new partitions {replicationFactor} time(s): only {available.Count} broker(s) are available.");
        }

        var replicas = ReplicaPlacement.Assign(image, available, count - current, replicationFactor, random, r => image.Apply(Records(r)), limits);
        return Guarded(image, Records(replicas), limits, $"Adding {count - current} partitions to '{name}'");

        List<MetadataRecord> Records(IReadOnlyList<ImmutableArray<int>> placed) =>
            [.. placed.Select((r, i) => new PartitionRecord(topic.Id, current + i, r, r, PartitionLeadership.ChooseLeader(image, r, r, exclude: -1)))];
    }

    /// <summary>
    /// Kafka's checks of a manual assignment (CreateTopics, CreatePartitions and a reassignment's target): every list
    /// non-empty, no broker twice, every broker registered, not every replica of a partition fenced, and with
    /// <paramref name="replicationFactor"/> (new partitions of an existing topic) as many replicas as its other
    /// partitions have. Null when it passes, else INVALID_REPLICA_ASSIGNMENT with Kafka's message.
    /// </summary>
    internal static Decision? CheckAssignment(MetadataImage image, IReadOnlyList<ImmutableArray<int>> assignment, int? replicationFactor)
    {
        foreach (var replicas in assignment)
        {
            if (replicas.IsEmpty)
            {
                return Decision.Fail(ErrorCode.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.");
            }

            if (replicationFactor is { } factor && replicas.Length != factor)
            {
                return Decision.Fail(ErrorCode.InvalidReplicaAssignment, $"The manual partition assignment includes a partition with {replicas.Length} replica(s), but this is not consistent with previous partitions, which have {factor} replica(s).");
            }

            if (replicas.GroupBy(b => b).FirstOrDefault(g => g.Count() > 1) is { } twice)
            {
                return Decision.Fail(ErrorCode.InvalidReplicaAssignment, $"The manual partition assignment includes the broker {twice.Key} more than once.");
            }

            if (replicas.FirstOrDefault(b => !image.Brokers.ContainsKey(b), -1) is var unknown && unknown >= 0)
            {
                return Decision.Fail(ErrorCode.InvalidReplicaAssignment, $"The manual partition assignment includes broker {unknown}, but no such broker is registered.");
            }

            if (replicas.All(b => image.Brokers[b].Fenced || image.Brokers[b].InControlledShutdown))
            {
                return Decision.Fail(ErrorCode.InvalidReplicaAssignment, $"All brokers specified in the manual partition assignment [{string.Join(", ", replicas)}] are fenced or in controlled shutdown.");
            }
        }

        return null;
    }

    /// <summary>
    /// <paramref name="records"/> committed, unless the cluster after them breaks the headroom guard's invariant
    /// (<see cref="HeadroomGuard"/>).
    /// </summary>
    public static Decision Guarded(MetadataImage image, IReadOnlyList<MetadataRecord> records, AdminLimits limits, string what)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(limits);
        return HeadroomGuard.Check(image, image.Apply(records), limits, what) ?? Decision.Commit(records);
    }

    /// <summary>
    /// A partition leader asks to change its ISR (Kafka's AlterPartition). Accepted only from the
    /// current leader at the current leader and partition epochs, for an ISR made of available
    /// replicas that still contains the leader.
    /// </summary>
    public static Decision AlterIsr(MetadataImage image, Guid topicId, int partitionId, int requester, int leaderEpoch, int partitionEpoch, ImmutableArray<int> newIsr)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!image.TopicsById.TryGetValue(topicId, out var topic) || !topic.Partitions.TryGetValue(partitionId, out var partition))
        {
            return Decision.Fail(ErrorCode.UnknownTopicOrPartition, $"Partition {partitionId} of topic {topicId} does not exist.");
        }

        if (partition.Leader != requester)
        {
            return Decision.Fail(ErrorCode.NotLeaderOrFollower, $"Broker {requester} is not the leader of {topic.Name}-{partitionId} (leader {partition.Leader}).");
        }

        if (leaderEpoch != partition.LeaderEpoch)
        {
            return Decision.Fail(ErrorCode.FencedLeaderEpoch, $"Leader epoch {leaderEpoch} is not the current {partition.LeaderEpoch}.");
        }

        if (partitionEpoch != partition.PartitionEpoch)
        {
            return Decision.Fail(ErrorCode.InvalidUpdateVersion, $"Partition epoch {partitionEpoch} is not the current {partition.PartitionEpoch}.");
        }

        if (!newIsr.Contains(requester) || newIsr.Any(r => !partition.Replicas.Contains(r)) || newIsr.Distinct().Count() != newIsr.Length)
        {
            return Decision.Fail(ErrorCode.InvalidRequest, "The ISR must be distinct replicas of the partition and contain its leader.");
        }

        var added = newIsr.Where(r => !partition.Isr.Contains(r)).FirstOrDefault(r => !PartitionLeadership.IsAvailable(image, r), -1);
        if (added >= 0)
        {
            return Decision.Fail(ErrorCode.IneligibleReplica, $"Replica {added} is fenced or shutting down and cannot join the ISR.");
        }

        // A reassignment whose target replicas are now all in sync completes with the same commit (KIP-455).
        var change = new PartitionChangeRecord(topicId, partitionId, Isr: newIsr);
        var after = image.Apply(change);
        return PartitionReassignment.Completion(after.TopicsById[topicId].Partitions[partitionId], after) is { } completed
            ? Decision.Commit([change, completed])
            : Decision.Commit([change]);
    }
}
