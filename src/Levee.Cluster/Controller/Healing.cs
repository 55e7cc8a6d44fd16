using System.Collections.Immutable;
using System.Globalization;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Controller;

/// <summary>What one healing step decided: the records to commit (possibly none), and why it did not do more.</summary>
/// <param name="Decision">The replica moves to commit.</param>
/// <param name="Moves">How many replicas the decision re-creates.</param>
/// <param name="Held">Why healing is held back, or null when it is not.</param>
public sealed record HealingStep(Decision Decision, int Moves, string? Held);

/// <summary>
/// Self-healing that cannot topple: the replicas of a broker gone longer than the healing delay are re-created on
/// survivors, a bounded number at a time. Pure: the controller calls it on its image each tick. Its rules:
/// <list type="bullet">
/// <item>more than one broker down is a mass failure: healing pauses and says so (moving the data of several brokers
/// at once onto the rest is how a cascade starts; an operator decides);</item>
/// <item>at most <c>maxInFlight</c> replicas are catching up at once (those alive but not yet in their ISR count);</item>
/// <item>each replica goes to the survivor placement would choose: not already holding the partition, on a rack the
/// partition's other replicas do not use when racks are set, with the fewest replicas for its limit;</item>
/// <item>no step is taken that would put a survivor over its bound (its limit less the headroom margin), which the
/// failure plan promised it would not need; it is held back, with the reason;</item>
/// <item>a partition whose ISR holds no live broker is left alone (its only copy is on the dead broker).</item>
/// </list>
/// </summary>
public static class Healing
{
    /// <summary>The next step for <paramref name="overdue"/> (brokers fenced longer than the healing delay).</summary>
    public static HealingStep Next(MetadataImage image, IReadOnlyCollection<int> overdue, AdminLimits limits, int maxInFlight)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(overdue);
        ArgumentNullException.ThrowIfNull(limits);
        var down = image.Brokers.Values.Where(b => b.Fenced).Select(b => b.Id).Order().ToList();
        var empty = Decision.Commit([]);
        if (overdue.Count == 0)
        {
            return new HealingStep(empty, 0, null);
        }

        if (Paused(down) is { } paused)
        {
            return new HealingStep(empty, 0, paused);
        }

        var live = image.Brokers.Values.Where(b => !b.Fenced && !b.InControlledShutdown).ToDictionary(b => b.Id);
        var partitions = image.TopicsById.Values.SelectMany(t => t.Partitions.Values).ToList();
        var inFlight = partitions.Sum(p => p.Replicas.Count(r => live.ContainsKey(r) && !p.Isr.Contains(r)));
        var room = maxInFlight - inFlight;
        if (room <= 0)
        {
            return new HealingStep(empty, 0, null);
        }

        var hosted = live.Keys.ToDictionary(id => id, id => 0);
        foreach (var replica in partitions.SelectMany(p => p.Replicas).Where(hosted.ContainsKey))
        {
            hosted[replica]++;
        }

        var capacity = live.Keys.ToDictionary(id => id, id => (double)limits.Capacity.For(image, id).Partitions);
        var records = new List<MetadataRecord>();
        foreach (var partition in partitions.Where(p => p.Replicas.Any(overdue.Contains) && !p.IsReassigning).OrderBy(p => p.TopicId).ThenBy(p => p.PartitionId))
        {
            if (records.Count >= room)
            {
                break;
            }

            if (!partition.Isr.Any(live.ContainsKey))
            {
                continue;
            }

            var replicas = partition.Replicas.ToBuilder();
            for (var i = 0; i < replicas.Count; i++)
            {
                if (!overdue.Contains(replicas[i]))
                {
                    continue;
                }

                var id = Target(replicas.ToImmutable(), replicas[i], live.Keys, b => live.TryGetValue(b, out var r) ? r.Rack : null, b => hosted[b] / capacity[b]);
                if (id < 0)
                {
                    continue;
                }

                replicas[i] = id;
                hosted[id]++;
            }

            if (replicas.SequenceEqual(partition.Replicas))
            {
                continue;
            }

            var isr = partition.Isr.Where(r => replicas.Contains(r)).ToImmutableArray();
            records.Add(new PartitionChangeRecord(partition.TopicId, partition.PartitionId, isr.SequenceEqual(partition.Isr) ? null : isr, Replicas: replicas.ToImmutable()));
        }

        if (records.Count == 0)
        {
            return new HealingStep(empty, 0, null);
        }

        // The failure plan promised each survivor stays within its bound once the failed broker is replaced: a step
        // that would take one beyond it now is not taken.
        var model = CapacityModel.Build(image.Apply(records), limits.Capacity);
        for (var b = 0; b < model.Brokers.Length; b++)
        {
            foreach (var resource in BrokerCapacity.Resources)
            {
                var bound = model.Bound(b, resource, limits.HeadroomMargin);
                if (model.Used[b][(int)resource] > bound + 1e-6)
                {
                    return new HealingStep(empty, 0, string.Create(CultureInfo.InvariantCulture, $"healing is held back: re-creating {records.Count} replica(s) would take broker {model.Brokers[b]} to {model.Used[b][(int)resource]:0.##} {BrokerCapacity.Name(resource)}, over {bound:0.##} ({BrokerCapacity.Key(resource)} less the headroom margin)"));
                }
            }
        }

        return new HealingStep(Decision.Commit(records), records.Count, null);
    }

    /// <summary>Why healing pauses with the brokers <paramref name="down"/> (more than one is a mass failure), or null when it may go on.</summary>
    public static string? Paused(IReadOnlyList<int> down)
    {
        ArgumentNullException.ThrowIfNull(down);
        return down.Count > 1
            ? $"healing is paused: {down.Count} brokers are down ({string.Join(", ", down)}); with more than one down, moving their replicas is left to an operator"
            : null;
    }

    /// <summary>
    /// Where the replica on <paramref name="replacing"/> of a partition on <paramref name="replicas"/> is re-created: among
    /// <paramref name="survivors"/> not holding the partition, one on a rack its other replicas do not use (when racks are
    /// set), with the lowest <paramref name="fill"/> (replicas hosted for its limit), then the lowest id; -1 when none is left.
    /// </summary>
    public static int Target(ImmutableArray<int> replicas, int replacing, IEnumerable<int> survivors, Func<int, string?> rackOf, Func<int, double> fill)
    {
        ArgumentNullException.ThrowIfNull(survivors);
        ArgumentNullException.ThrowIfNull(rackOf);
        ArgumentNullException.ThrowIfNull(fill);
        var racks = replicas.Where(r => r != replacing).Select(rackOf).Where(r => !string.IsNullOrEmpty(r)).ToHashSet(StringComparer.Ordinal);
        var best = -1;
        (int RackUsed, double Fill, int Id) bestKey = default;
        foreach (var id in survivors)
        {
            if (replicas.Contains(id))
            {
                continue;
            }

            var rack = rackOf(id);
            var key = (!string.IsNullOrEmpty(rack) && racks.Contains(rack) ? 1 : 0, fill(id), id);
            if (best < 0 || key.CompareTo(bestKey) < 0)
            {
                (best, bestKey) = (id, key);
            }
        }

        return best;
    }
}
