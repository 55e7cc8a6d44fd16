using System.Collections.Immutable;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Controller;

/// <summary>
/// Levee's placement of new partitions: the one, among a few candidates, whose cluster has the lowest worst load on
/// any survivor after any single failure, as <see cref="Score"/> computes it. The candidates are a placement that
/// knows every partition already in the cluster (below) and Kafka's striped assignments
/// (<see cref="StripedPlacement"/>): every one Kafka could draw on up to 12 brokers, 16 drawn beyond, so on such
/// clusters Levee's choice is never worse, by that measure, than Kafka's. The state-aware candidate places each partition in turn: its leader is the
/// broker whose leaderships after its worst single failure are fewest; its first follower, the replica an election
/// promotes when the leader fails, the broker that has so far taken over fewest of that leader's partitions (so a
/// failed broker's leaderships go to as many survivors as it has leaderships, evenly), then the one whose
/// leaderships after a failure stay fewest; its other followers the brokers hosting fewest replicas; and every
/// replica on a rack the partition does not use yet, when racks are set. Ties are broken in an order drawn from
/// the random source.
/// </summary>
public static class ReplicaPlacement
{
    private const int MaxExhaustive = 12;
    private const int MaxDrawn = 16;

    /// <summary>
    /// Replica lists (preferred leader first) for <paramref name="partitions"/> new partitions of
    /// <paramref name="replicationFactor"/> replicas on distinct brokers among <paramref name="brokers"/>, given the
    /// partitions of <paramref name="image"/>. With <paramref name="placed"/> (the image once a candidate is placed)
    /// the candidates are compared by <see cref="Score"/> under <paramref name="limits"/>; without it the state-aware
    /// one is taken.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer brokers than the replication factor.</exception>
    public static IReadOnlyList<ImmutableArray<int>> Assign(
        MetadataImage image,
        IReadOnlyList<int> brokers,
        int partitions,
        int replicationFactor,
        Random random,
        Func<IReadOnlyList<ImmutableArray<int>>, MetadataImage>? placed = null,
        AdminLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(random);
        StripedPlacement.CheckArguments(brokers, partitions, replicationFactor);

        var state = PlacementState.Of(image, brokers, random);
        var aware = new List<ImmutableArray<int>>(partitions);
        for (var i = 0; i < partitions; i++)
        {
            aware.Add(state.Place(replicationFactor));
        }

        // Kafka's stripes know nothing of racks: with racks only the rack-aware candidate is taken.
        if (placed is null || brokers.Count < 2 || partitions == 0 || brokers.Any(b => image.Brokers.TryGetValue(b, out var r) && !string.IsNullOrEmpty(r.Rack)))
        {
            return aware;
        }

        // Every stripe Kafka could draw (start and follower shift) on up to 12 brokers, 16 drawn at random beyond.
        var n = brokers.Count;
        var stripes = n <= MaxExhaustive
            ? Enumerable.Range(0, n * n).Select(i => (Start: i / n, Shift: i % n)).ToList()
            : [.. Enumerable.Range(0, MaxDrawn).Select(_ => (Start: random.Next(n), Shift: random.Next(n)))];
        IReadOnlyList<ImmutableArray<int>> best = aware;
        limits ??= AdminLimits.Default;
        var bestScore = Score(placed(aware), limits.Capacity, limits.HeadroomMargin);
        foreach (var (start, shift) in stripes)
        {
            var striped = StripedPlacement.Assign(brokers, partitions, replicationFactor, 0, start, shift);
            var score = Score(placed(striped), limits.Capacity, limits.HeadroomMargin);
            if (score.CompareTo(bestScore) < 0)
            {
                (best, bestScore) = (striped, score);
            }
        }

        return best;
    }

    /// <summary>
    /// How a placement leaves the cluster, lower is better, compared in this order: how far the worst single failure
    /// would take brokers over their bounds (limit less <paramref name="margin"/>; 0 when the headroom guard would
    /// accept it); how far the brokers' leaderships are from spreading over min(their count, N - 1, 8) survivors with
    /// none taking more than 2/(N - 1) of them; how full the fullest survivor gets after the worst single failure,
    /// the most over the resources for their limits and over leaderships for all partitions (the load an election
    /// moves, whatever is reserved); and the sum of those fills.
    /// </summary>
    public static (double Over, int SpreadShortfall, double Max, double Sum) Score(MetadataImage image, BrokerCapacity capacity, double margin)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(capacity);
        var model = CapacityModel.Build(image, capacity);
        var worst = model.Worst();
        double over = 0, max = 0, sum = 0;
        foreach (var resource in BrokerCapacity.Resources)
        {
            var fill = 0.0;
            for (var b = 0; b < model.Brokers.Length; b++)
            {
                var value = worst[b][(int)resource].Value;
                fill = Math.Max(fill, value / model.Limits[b][resource]);
                over += Math.Max(0, value - model.Bound(b, resource, margin)) / model.Limits[b][resource];
            }

            max = Math.Max(max, fill);
            sum += fill;
        }

        var (leadership, shortfall) = Leaderships(image, model.Brokers);
        return (over, shortfall, Math.Max(max, leadership), sum + leadership);
    }

    // The most leaderships any survivor has after any single failure, for all partitions; and the spread shortfall.
    private static (double Fill, int Shortfall) Leaderships(MetadataImage image, ImmutableArray<int> brokers)
    {
        var n = brokers.Length;
        if (n < 2)
        {
            return (0, 0);
        }

        var index = brokers.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        var leaders = new int[n];
        var replicated = new int[n];
        var takeovers = new int[n, n];
        var total = 0;
        foreach (var partition in image.TopicsById.Values.SelectMany(t => t.Partitions.Values))
        {
            total++;
            if (partition.Replicas.Length > 0 && index.TryGetValue(partition.Replicas[0], out var leader))
            {
                leaders[leader]++;
                if (partition.Replicas.Length > 1 && index.TryGetValue(partition.Replicas[1], out var first))
                {
                    replicated[leader]++;
                    takeovers[leader, first]++;
                }
            }
        }

        // Spread counts the leaderships an election can move: those of partitions with a follower.
        var most = 0;
        var shortfall = 0;
        for (var f = 0; f < n; f++)
        {
            var distinct = 0;
            var taken = 0;
            for (var s = 0; s < n; s++)
            {
                if (s != f)
                {
                    most = Math.Max(most, leaders[s] + takeovers[f, s]);
                    distinct += takeovers[f, s] > 0 ? 1 : 0;
                    taken = Math.Max(taken, takeovers[f, s]);
                }
            }

            var led = replicated[f];
            shortfall += Math.Max(0, Math.Min(Math.Min(led, n - 1), 8) - distinct);
            shortfall += Math.Max(0, taken - Math.Max(1, 2 * led / (n - 1)));
        }

        return (total == 0 ? 0 : most / (double)total, shortfall);
    }
}
