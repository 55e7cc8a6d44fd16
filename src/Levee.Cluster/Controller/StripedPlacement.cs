using System.Collections.Immutable;

namespace Levee.Cluster.Controller;

/// <summary>
/// Chooses the replicas of new partitions the way Kafka's rack-unaware assignment does: the first
/// replica of each partition walks the broker list round-robin from a random start, and the
/// followers are shifted by an offset that grows each time the walk wraps, so the followers of one
/// broker's leaders land on many different brokers. When that broker fails, its load spreads over
/// many survivors, a little each, instead of doubling one neighbour's.
/// </summary>
public static class ReplicaPlacement
{
    /// <summary>
    /// Replica lists (preferred leader first) for partitions <paramref name="firstPartition"/> ..
    /// <paramref name="firstPartition"/> + <paramref name="partitions"/> - 1, on distinct brokers.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer brokers than the replication factor.</exception>
    public static IReadOnlyList<ImmutableArray<int>> Assign(IReadOnlyList<int> brokers, int partitions, int replicationFactor, int firstPartition, Random random)
    {
        ArgumentNullException.ThrowIfNull(brokers);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(partitions);
        if (brokers.Count < replicationFactor)
        {
            throw new ArgumentException($"Replication factor {replicationFactor} is larger than the {brokers.Count} available broker(s).", nameof(replicationFactor));
        }

        var sorted = brokers.Order().ToArray();
        var n = sorted.Length;
        var start = random.Next(n);
        var shift = random.Next(n);
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
