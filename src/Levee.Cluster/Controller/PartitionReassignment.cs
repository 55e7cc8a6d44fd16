using System.Collections.Immutable;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Cluster.Controller;

/// <summary>
/// Partition reassignment as Kafka's controller does it (KIP-455), as pure functions of the metadata image. A
/// reassignment to a target replica list records, on the partition, the target followed by the replicas it drops
/// (<c>replicas</c>), those it adds (<c>adding_replicas</c>: new followers, catching up throttled like any replica out
/// of the ISR) and those it drops (<c>removing_replicas</c>). Once every target replica is in the ISR it completes:
/// the replicas become the target, the ISR loses the removed ones, and leadership moves to the first target replica in
/// the ISR if the leader was removed. A new reassignment of a partition being reassigned starts again from the
/// partition's original replicas; a cancellation (null target) reverts to them.
/// </summary>
public static class PartitionReassignment
{
    /// <summary>
    /// Starts, replaces or (with a null <paramref name="target"/>) cancels the reassignment of partition
    /// <paramref name="partitionId"/> of <paramref name="topicName"/>: Kafka's errors (UNKNOWN_TOPIC_OR_PARTITION,
    /// INVALID_REPLICA_ASSIGNMENT for a list CreateTopics would refuse as a manual assignment, NO_REASSIGNMENT_IN_PROGRESS
    /// for cancelling none), and POLICY_VIOLATION from the headroom guard for a target that would leave the cluster
    /// unable to absorb a single failure once it completes.
    /// </summary>
    public static Decision Alter(MetadataImage image, string topicName, int partitionId, ImmutableArray<int>? target, AdminLimits limits)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(limits);
        if (!image.TopicsByName.TryGetValue(topicName, out var topic) || !topic.Partitions.TryGetValue(partitionId, out var partition))
        {
            return Decision.Fail(ErrorCode.UnknownTopicOrPartition, $"Unable to find partition {topicName}-{partitionId}.");
        }

        var original = Original(partition);
        if (target is not { } replicas)
        {
            if (!partition.IsReassigning)
            {
                return Decision.Fail(ErrorCode.NoReassignmentInProgress, $"No ongoing reassignment for partition {topicName}-{partitionId}.");
            }

            return Change(image, partition, original, [], []) is { } reverted
                ? Decision.Commit([reverted])
                : Decision.Fail(ErrorCode.InvalidReplicaAssignment, $"Cannot cancel the reassignment of {topicName}-{partitionId}: none of its original replicas [{string.Join(", ", original)}] is in sync.");
        }

        if (ControllerDecisions.CheckAssignment(image, [replicas], replicationFactor: null) is { } refused)
        {
            return refused;
        }

        // Kafka's order: the target first, then the original replicas it drops.
        var all = replicas.Concat(original.Where(r => !replicas.Contains(r))).ToImmutableArray();
        var adding = replicas.Where(r => !original.Contains(r)).ToImmutableArray();
        var removing = original.Where(r => !replicas.Contains(r)).ToImmutableArray();
        if (Change(image, partition, all, adding, removing) is not { } started)
        {
            return Decision.Fail(ErrorCode.InvalidReplicaAssignment, $"Cannot reassign {topicName}-{partitionId} to [{string.Join(", ", replicas)}]: none of its in-sync replicas would remain.");
        }

        var records = new List<MetadataRecord> { started };
        // Only replicas dropped, or a target already in sync: done at once.
        var begun = image.Apply(records);
        if (Completion(begun.TopicsById[partition.TopicId].Partitions[partitionId], begun) is { } done)
        {
            records.Add(done);
        }

        // The guard judges the cluster once the move is done: the target replicas, all in sync, carrying the partition.
        var moved = new PartitionChangeRecord(
            partition.TopicId, partitionId, replicas, replicas.Contains(partition.Leader) ? PartitionChangeRecord.NoLeaderChange : replicas[0], replicas, [], []);
        return HeadroomGuard.Check(image, image.Apply(moved), limits, $"Reassigning partition {topicName}-{partitionId} to [{string.Join(", ", replicas)}]")
            ?? Decision.Commit(records);
    }

    /// <summary>
    /// The record that completes <paramref name="partition"/>'s reassignment when every target replica is in its ISR,
    /// or null: replicas the target, ISR without the removed replicas, leader the first target replica in the ISR
    /// and available if the leader was removed, adding and removing cleared.
    /// </summary>
    public static PartitionChangeRecord? Completion(PartitionImage partition, MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(image);
        if (!partition.IsReassigning || Target(partition).Any(r => !partition.Isr.Contains(r)))
        {
            return null;
        }

        return Completed(partition, image);
    }

    /// <summary>Records completing every reassignment of <paramref name="image"/> whose target replicas are all in sync.</summary>
    public static IReadOnlyList<MetadataRecord> CompleteAll(MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return [.. image.TopicsById.Values.SelectMany(t => t.Partitions.Values).Select(p => Completion(p, image)).OfType<MetadataRecord>()];
    }

    /// <summary>The replicas a reassignment in progress moves <paramref name="partition"/> to (its replicas when none is).</summary>
    public static ImmutableArray<int> Target(PartitionImage partition)
    {
        ArgumentNullException.ThrowIfNull(partition);
        return partition.Replicas.Where(r => !partition.RemovingReplicas.Contains(r)).ToImmutableArray();
    }

    /// <summary>The replicas <paramref name="partition"/> had before the reassignment in progress (its replicas when none is).</summary>
    public static ImmutableArray<int> Original(PartitionImage partition)
    {
        ArgumentNullException.ThrowIfNull(partition);
        return partition.Replicas.Where(r => !partition.AddingReplicas.Contains(r)).ToImmutableArray();
    }

    private static PartitionChangeRecord? Completed(PartitionImage partition, MetadataImage image) =>
        partition.IsReassigning ? Change(image, partition, Target(partition), [], []) : null;

    // The partition on `replicas` with the given adding and removing lists: the ISR keeps its members among them, and
    // a leader not among them hands over to the first of them in the ISR and available. Null when no member of the
    // ISR would remain (only possible reverting to replicas that have all fallen out of it).
    private static PartitionChangeRecord? Change(MetadataImage image, PartitionImage partition, ImmutableArray<int> replicas, ImmutableArray<int> adding, ImmutableArray<int> removing)
    {
        var isr = partition.Isr.Where(replicas.Contains).ToImmutableArray();
        if (isr.IsEmpty)
        {
            return null;
        }

        var leader = replicas.Contains(partition.Leader)
            ? PartitionChangeRecord.NoLeaderChange
            : PartitionLeadership.ChooseLeader(image, replicas, isr, exclude: -1);
        return new PartitionChangeRecord(
            partition.TopicId,
            partition.PartitionId,
            isr.SequenceEqual(partition.Isr) ? null : isr,
            leader,
            replicas,
            adding,
            removing);
    }
}
