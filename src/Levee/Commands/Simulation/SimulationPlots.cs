using Levee.Cluster.Controller;
using Levee.Cluster.Simulation;
using ScottPlot;

namespace Levee.Commands.Simulation;

/// <summary>The plots of a simulation report, drawn with ScottPlot as PNG files (docs/simulation.md shows them).</summary>
internal static class SimulationPlots
{
    private const int Width = 800;
    private const int Height = 450;

    /// <summary>Writes <c>cascades.png</c>, <c>unavailable.png</c>, <c>peak-load.png</c>, <c>sold.png</c> and the comparison as <c>table.md</c> into <paramref name="dir"/>.</summary>
    public static void Write(SimulationReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "table.md"), report.ToMarkdown());
        var names = report.Policies.Select(p => p.Policy.Name).ToArray();
        Bars(Path.Combine(dir, "cascades.png"), "Probability that a failure cascades", "probability", names, report.Policies.Select(p => p.CascadeProbability).ToArray());
        Bars(Path.Combine(dir, "unavailable.png"), "Partition-hours unavailable, all injected failures", "partition-hours", names, report.Policies.Select(p => p.PartitionHoursUnavailable).ToArray());
        PeakLoad(Path.Combine(dir, "peak-load.png"), report);
        Sold(Path.Combine(dir, "sold.png"), report);
    }

    private static void Bars(string path, string title, string axis, string[] names, double[] values)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var bars = values.Select((v, i) => new Bar { Position = i, Value = v, FillColor = palette.GetColor(i) }).ToArray();
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, names.Length).Select(i => (double)i)], names);
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel(axis);
        plot.SavePng(path, Width, Height);
    }

    private static void PeakLoad(string path, SimulationReport report)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var resources = BrokerCapacity.Resources;
        var groups = report.Policies.Length + 1;
        for (var p = 0; p < report.Policies.Length; p++)
        {
            var policy = report.Policies[p];
            var bars = resources.Select((r, i) => new Bar { Position = (i * groups) + p, Value = policy.PeakSurvivorLoad[(int)r], FillColor = palette.GetColor(p) }).ToArray();
            plot.Add.Bars(bars).LegendText = policy.Policy.Name;
        }

        var limit = plot.Add.HorizontalLine(1);
        limit.LinePattern = LinePattern.Dashed;
        limit.LegendText = "limit";
        plot.Axes.Bottom.SetTicks([.. resources.Select((_, i) => (i * groups) + ((groups - 2) / 2.0))], [.. resources.Select(BrokerCapacity.Name)]);
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Alignment.UpperRight);
        plot.Title("Peak load on any live broker, for its limit, over all failures");
        plot.YLabel("load / limit");
        plot.SavePng(path, Width, Height);
    }

    private static void Sold(string path, SimulationReport report)
    {
        var plot = new Plot();
        var first = report.Policies[0].Fleet.Sold;
        var requested = plot.Add.Scatter(first.Select(s => s.Hours).ToArray(), first.Select(s => s.Requested).ToArray());
        requested.LegendText = "asked for";
        requested.LinePattern = LinePattern.Dashed;
        requested.MarkerSize = 0;
        foreach (var policy in report.Policies.Where(p => p.Policy.Guard).Take(1))
        {
            var sold = plot.Add.Scatter(policy.Fleet.Sold.Select(s => s.Hours).ToArray(), policy.Fleet.Sold.Select(s => s.Sold).ToArray());
            sold.LegendText = "admitted by the headroom guard";
            sold.MarkerSize = 0;
        }

        var limit = plot.Add.HorizontalLine(1);
        limit.LinePattern = LinePattern.Dotted;
        limit.LegendText = "fleet limit";
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Title("How full the fleet is sold as tenants arrive (busiest resource)");
        plot.XLabel("hours");
        plot.YLabel("reserved / fleet limit");
        plot.SavePng(path, Width, Height);
    }
}
