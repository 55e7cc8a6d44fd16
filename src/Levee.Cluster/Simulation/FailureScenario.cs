using System.Collections.Immutable;

namespace Levee.Cluster.Simulation;

/// <summary>A kind of failure injected into the fleet.</summary>
public enum FailureKind
{
    /// <summary>One broker crashes.</summary>
    Broker,

    /// <summary>Every broker of one rack goes down at once.</summary>
    Rack,

    /// <summary>Two brokers of one rack crash a minute apart (a shared power strip, a bad batch of disks).</summary>
    Pair,

    /// <summary>One broker runs at half its limits for two hours (a failing disk or NIC), and fails if that overloads it.</summary>
    Slow,

    /// <summary>One broker crashes and, ten minutes later, a rolling restart of ten others begins, one at a time.</summary>
    RollingRestart,
}

/// <summary>
/// One injected failure, drawn before any policy runs so that every policy meets the same one: when, which brokers (as
/// indexes), and how long each stays down.
/// </summary>
/// <param name="Kind">What fails.</param>
/// <param name="AtHours">When, after the first day.</param>
/// <param name="Brokers">The brokers it takes (for a rolling restart: the crashed one first, then the restarted ones in order).</param>
/// <param name="RepairHours">How long each crashed broker stays down (a rolling restart's brokers are down for five minutes each).</param>
public sealed record FailureScenario(FailureKind Kind, double AtHours, ImmutableArray<int> Brokers, ImmutableArray<double> RepairHours)
{
    /// <summary><paramref name="count"/> failures over <paramref name="workload"/>'s days, the kinds in turn, from the workload's seed.</summary>
    public static IReadOnlyList<FailureScenario> Draw(Workload workload, int count)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var random = new Random(unchecked((workload.Options.Seed * 7919) + 17));
        var n = workload.Brokers.Length;
        var racks = workload.Brokers.Select((b, i) => (b.Rack, i)).GroupBy(b => b.Rack, StringComparer.Ordinal).Select(g => g.Select(b => b.i).ToArray()).ToArray();
        var kinds = Enum.GetValues<FailureKind>();
        var result = new List<FailureScenario>(count);
        for (var s = 0; s < count; s++)
        {
            var kind = kinds[s % kinds.Length];
            var at = 24 + (random.NextDouble() * ((workload.Options.Days - 1) * 24));
            double Repair() => 0.25 + (random.NextDouble() * 3.75);
            var first = random.Next(n);
            var rack = racks.First(r => r.Contains(first));
            ImmutableArray<int> brokers = kind switch
            {
                FailureKind.Rack => [.. rack],
                FailureKind.Pair => [first, rack.Length > 1 ? rack.Where(b => b != first).ElementAt(random.Next(rack.Length - 1)) : (first + 1) % n],
                FailureKind.RollingRestart => [first, .. Enumerable.Range(1, Math.Min(10, n - 2)).Select(k => (first + (k * (n / 11)) + 1) % n).Distinct().Where(b => b != first)],
                _ => [first],
            };
            var repair = kind == FailureKind.Rack ? Enumerable.Repeat(Repair(), brokers.Length).ToImmutableArray() : [.. brokers.Select(_ => Repair())];
            result.Add(new FailureScenario(kind, at, brokers, repair));
        }

        return result;
    }
}
