using System.Collections.Immutable;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Controller;

/// <summary>One partition's move: its replicas now, and the replicas to reassign it to (preferred leader first).</summary>
/// <param name="Topic">The topic.</param>
/// <param name="Partition">The partition index.</param>
/// <param name="From">Its replicas now.</param>
/// <param name="To">The target replicas.</param>
public sealed record PartitionMove(string Topic, int Partition, ImmutableArray<int> From, ImmutableArray<int> To);

/// <summary>
/// What <c>levee rebalance</c> proposes: partition moves, and the fullest survivor after the worst single failure
/// (<see cref="ReplicaPlacement.Score"/>'s measure: each resource for its limit, and leaderships for all partitions)
/// before and after them, each with every replica in sync and preferred leaders leading.
/// </summary>
/// <param name="Moves">The moves, one per partition, in the order found.</param>
/// <param name="WorstBefore">The fullest survivor's fill after the worst single failure now.</param>
/// <param name="WorstAfter">The same once every move is done.</param>
public sealed record RebalancePlan(IReadOnlyList<PartitionMove> Moves, double WorstBefore, double WorstAfter)
{
    /// <summary>
    /// Moves that lower the worst load on any survivor of any single failure, found greedily: each step takes, among
    /// every partition not being reassigned, every replica of it moved to an available broker that does not hold the
    /// partition and every other replica made its preferred leader, the change whose cluster scores best by
    /// <see cref="ReplicaPlacement.Score"/> (the placement's own measure: over the guard's bounds, then leadership
    /// spread, then the fullest survivor, then the sum), provided it scores better than the cluster before it and
    /// does not raise the fullest survivor; it stops when none does, or after <paramref name="maxMoves"/> partitions
    /// have moves. Pure: the controller's image or one built from what the Kafka protocol shows.
    /// </summary>
    public static RebalancePlan Propose(MetadataImage image, AdminLimits limits, int maxMoves)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentOutOfRangeException.ThrowIfNegative(maxMoves);
        var available = image.Brokers.Values.Where(b => !b.Fenced && !b.InControlledShutdown).Select(b => b.Id).Order().ToList();
        var original = new Dictionary<(Guid Topic, int Partition), ImmutableArray<int>>();
        var current = Settled(image);
        var score = Score(current, limits);
        var before = score.Max;
        while (true)
        {
            (MetadataImage Image, (double Over, int SpreadShortfall, double Max, double Sum) Score, PartitionImage Partition)? best = null;
            foreach (var partition in current.TopicsById.Values.SelectMany(t => t.Partitions.Values))
            {
                if (partition.IsReassigning || (original.Count >= maxMoves && !original.ContainsKey((partition.TopicId, partition.PartitionId))))
                {
                    continue;
                }

                foreach (var replicas in Candidates(partition.Replicas, available))
                {
                    var changed = current.Apply(new PartitionRecord(partition.TopicId, partition.PartitionId, replicas, replicas, replicas[0]));
                    var candidate = Score(changed, limits);
                    if (candidate.CompareTo(best?.Score ?? score) < 0 && candidate.Max <= score.Max + 1e-9)
                    {
                        best = (changed, candidate, partition);
                    }
                }
            }

            if (best is not { } step)
            {
                break;
            }

            original.TryAdd((step.Partition.TopicId, step.Partition.PartitionId), image.TopicsById[step.Partition.TopicId].Partitions[step.Partition.PartitionId].Replicas);
            (current, score) = (step.Image, step.Score);
        }

        var moves = original
            .Select(o => (Topic: image.TopicsById[o.Key.Topic].Name, o.Key.Partition, From: o.Value, To: current.TopicsById[o.Key.Topic].Partitions[o.Key.Partition].Replicas))
            .Where(m => !m.From.SequenceEqual(m.To))
            .Select(m => new PartitionMove(m.Topic, m.Partition, m.From, m.To))
            .ToList();
        return new RebalancePlan(moves, before, score.Max);
    }

    /// <summary>
    /// The fullest survivor's fill after the worst single failure of <paramref name="image"/> once settled (every
    /// replica in sync, preferred leaders leading), as <see cref="Propose"/> measures it.
    /// </summary>
    public static double Worst(MetadataImage image, AdminLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        return Score(Settled(image), limits).Max;
    }

    // The cluster as it settles, which is what a plan is judged on: every replica in sync and each partition led by
    // its preferred replica (the controller's leader rebalancing, and `levee rebalance`'s own preferred election).
    private static MetadataImage Settled(MetadataImage image) =>
        image.Apply(image.TopicsById.Values.SelectMany(t => t.Partitions.Values)
            .Where(p => !p.IsReassigning && (p.Leader != p.Replicas[0] || p.Isr.Length != p.Replicas.Length))
            .Select(p => new PartitionRecord(p.TopicId, p.PartitionId, p.Replicas, p.Replicas, p.Replicas[0], p.LeaderEpoch, p.PartitionEpoch)));

    private static (double Over, int SpreadShortfall, double Max, double Sum) Score(MetadataImage image, AdminLimits limits) =>
        ReplicaPlacement.Score(image, limits.Capacity, limits.HeadroomMargin);

    // Every replica moved to an available broker not holding the partition, and every other replica made the preferred leader.
    private static IEnumerable<ImmutableArray<int>> Candidates(ImmutableArray<int> replicas, IReadOnlyList<int> available)
    {
        for (var i = 0; i < replicas.Length; i++)
        {
            foreach (var broker in available.Where(b => !replicas.Contains(b)))
            {
                yield return replicas.SetItem(i, broker);
            }

            if (i > 0)
            {
                yield return replicas.SetItem(0, replicas[i]).SetItem(i, replicas[0]);
            }
        }
    }
}
