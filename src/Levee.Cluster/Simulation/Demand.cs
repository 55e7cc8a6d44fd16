namespace Levee.Cluster.Simulation;

/// <summary>
/// How much of what tenants carry at their daily peak they carry at a given hour: a daily curve (peak at 15:00, 10% of it
/// at 03:00), 15% lower at weekends (days 6 and 7), and three bursts a day of 15 to 45 minutes at 15% above the curve
/// (a sale, a market opening), drawn from the seed.
/// </summary>
public sealed class Demand
{
    private readonly (double Start, double End)[] _bursts;

    /// <summary>The curve of a run of <paramref name="days"/> days from <paramref name="seed"/>.</summary>
    public Demand(int days, int seed)
    {
        var random = new Random(unchecked((seed * 7919) + 29));
        _bursts = [.. Enumerable.Range(0, days * 3).Select(k =>
        {
            var start = (k / 3 * 24.0) + (random.NextDouble() * 24);
            return (start, start + 0.25 + (random.NextDouble() * 0.5));
        }).OrderBy(b => b.start)];
    }

    /// <summary>The share of the daily peak carried at <paramref name="hours"/> since the run began.</summary>
    public double At(double hours)
    {
        var hourOfDay = hours % 24;
        var curve = 0.55 + (0.45 * Math.Cos(2 * Math.PI * (hourOfDay - 15) / 24));
        var weekend = (int)(hours / 24) % 7 >= 5 ? 0.85 : 1;
        var burst = _bursts.Any(b => hours >= b.Start && hours < b.End) ? 1.15 : 1;
        return curve * weekend * burst;
    }
}
