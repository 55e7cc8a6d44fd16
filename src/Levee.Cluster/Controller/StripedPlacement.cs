using System.Collections.Immutable;

namespace Levee.Cluster.Controller;

/// <summary>
/// Kafka's default (rack-unaware, striped) assignment, kept as the baseline Levee's own placement
/// (<see cref="ReplicaPlacement"/>) is measured against: the first replica of each partition walks
/// the broker list round-robin from a random start, and the followers are shifted by an offset that
/// grows each time the walk wraps. It knows nothing of the partitions already placed, so each topic
/// starts its walk afresh and a failed broker's leaderships go to whichever brokers follow it in the
/// few shifts one topic reaches.
/// </summary>
public static class StripedPlacement
{
    /// <summary>
    /// Replica lists (preferred leader first) for partitions <paramref name="firstPartition"/> ..
    /// <paramref name="firstPartition"/> + <paramref name="partitions"/> - 1, on distinct brokers.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer brokers than the replication factor.</exception>
    public static IReadOnlyList<ImmutableArray<int>> Assign(IReadOnlyList<int> brokers, int partitions, int replicationFactor, int firstPartition, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        CheckArguments(brokers, partitions, replicationFactor);
        var n = brokers.Count;
        return Assign(brokers, partitions, replicationFactor, firstPartition, random.Next(n), random.Next(n));
    }

    /// <summary>Refuses a placement that cannot be made: no brokers list, no replicas, fewer brokers than replicas.</summary>
    /// <exception cref="ArgumentException">Fewer brokers than the replication factor.</exception>
    internal static void CheckArguments(IReadOnlyList<int> brokers, int partitions, int replicationFactor)
    {
        ArgumentNullException.ThrowIfNull(brokers);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(partitions);
        if (brokers.Count < replicationFactor)
        {
            throw new ArgumentException($"Replication factor {replicationFactor} is larger than the {brokers.Count} available broker(s).", nameof(replicationFactor));
        }
    }

    /// <summary>The same, from <paramref name="start"/> with followers first shifted by <paramref name="shift"/> (Kafka draws both at random).</summary>
    public static IReadOnlyList<ImmutableArray<int>> Assign(IReadOnlyList<int> brokers, int partitions, int replicationFactor, int firstPartition, int start, int shift)
    {
        CheckArguments(brokers, partitions, replicationFactor);
        var sorted = brokers.Order().ToArray();
        var n = sorted.Length;
        var result = new List<ImmutableArray<int>>(partitions);
        for (var i = 0; i < partitions; i++)
        {
            var partition = firstPartition + i;
            if (partition > 0 && partition % n == 0)
            {
                shift++;
            }

            var first = (partition + start) % n;
            var replicas = ImmutableArray.CreateBuilder<int>(replicationFactor);
            replicas.Add(sorted[first]);
            for (var j = 0; j < replicationFactor - 1; j++)
            {
                replicas.Add(sorted[FollowerIndex(first, shift, j, n)]);
            }

            result.Add(replicas.MoveToImmutable());
        }

        return result;
    }

    // Followers sit 1 + ((shift + j) mod (n - 1)) places after the leader: never on the leader itself,
    // always distinct from each other, and rotating with the shift.
    private static int FollowerIndex(int first, int shift, int j, int n) => (first + 1 + ((shift + j) % (n - 1))) % n;
}
