using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Levee.Cluster.Controller;
using Levee.Cluster.Simulation;
using Levee.Commands.Simulation;
using Spectre.Console;

namespace Levee.Commands;

/// <summary>
/// `levee simulate --brokers N --racks R --tenants T --partitions P --days D --seed S [--failures F] [--json FILE]
/// [--plots DIR]`: a fleet of simulated brokers built and failed by each policy with the controller's own placement,
/// guard, elections and healing (<see cref="FleetSimulator"/>), and the comparison: cascade probability, brokers lost,
/// partition-hours unavailable, peak survivor load and how full each policy sold the fleet (docs/simulation.md).
/// </summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        var defaults = new SimulationOptions();
        var brokers = new Option<int>("--brokers") { Description = "Brokers in the fleet.", DefaultValueFactory = _ => defaults.Brokers };
        var racks = new Option<int>("--racks") { Description = "Racks, each a contiguous block of broker ids.", DefaultValueFactory = _ => defaults.Racks };
        var tenants = new Option<int>("--tenants") { Description = "Tenants asking for a topic during the first day.", DefaultValueFactory = _ => defaults.Tenants };
        var partitions = new Option<int>("--partitions") { Description = "Partitions they ask for together.", DefaultValueFactory = _ => defaults.Partitions };
        var days = new Option<int>("--days") { Description = "Days simulated: tenants arrive on the first, failures come on the others.", DefaultValueFactory = _ => defaults.Days };
        var seed = new Option<int>("--seed") { Description = "Seed of every random draw: the same seed gives the same JSON.", DefaultValueFactory = _ => defaults.Seed };
        var failures = new Option<int>("--failures") { Description = "Failures injected per policy, the five kinds in turn.", DefaultValueFactory = _ => defaults.Failures };
        var margin = new Option<double>("--headroom-margin") { Description = "headroom.margin of the guarded policies.", DefaultValueFactory = _ => defaults.HeadroomMargin };
        var json = new Option<string?>("--json") { Description = "Write the report as JSON to this file." };
        var plots = new Option<string?>("--plots") { Description = "Write the plots (PNG) and the comparison table (table.md) into this directory." };
        var command = new Command("simulate", "Simulate a fleet driven by Levee's own controller code under failures, and compare placement, guard and healing policies.")
        {
            brokers, racks, tenants, partitions, days, seed, failures, margin, json, plots,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var options = new SimulationOptions(parse.GetValue(brokers), parse.GetValue(racks), parse.GetValue(tenants), parse.GetValue(partitions), parse.GetValue(days), parse.GetValue(seed), parse.GetValue(failures), parse.GetValue(margin));
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }

            var clock = Stopwatch.StartNew();
            var report = FleetSimulator.Run(options);
            var elapsed = clock.Elapsed.TotalSeconds;
            using var process = Process.GetCurrentProcess();
            var memory = process.PeakWorkingSet64;
            if (parse.GetValue(json) is { } path)
            {
                await File.WriteAllTextAsync(path, report.ToJson(elapsed, memory), cancellation).ConfigureAwait(false);
            }

            if (parse.GetValue(plots) is { } dir)
            {
                SimulationPlots.Write(report, dir);
            }

            Print(report, elapsed, memory);
            return 0;
        });
        return command;
    }

    private static void Print(SimulationReport report, double elapsed, long memory)
    {
        var c = CultureInfo.InvariantCulture;
        var o = report.Options;
        var console = ClusterCommand.CreateConsole();
        console.WriteLine(string.Create(c, $"{o.Brokers} brokers in {o.Racks} racks, {o.Tenants} tenants asking for {o.Partitions} partitions, {o.Days} days, seed {o.Seed}, {o.Failures} failures per policy."));
        var table = new Table().AddColumns("policy", "cascade probability", "brokers lost (mean / max)", "partition-hours unavailable", "peak survivor load (in / out)", "utilisation", "tenants admitted");
        foreach (var p in report.Policies)
        {
            table.AddRow(
                p.Policy.Name,
                p.CascadeProbability.ToString("0.00", c),
                string.Create(c, $"{p.MeanBrokersLost:0.0} / {p.MaxBrokersLost}"),
                p.PartitionHoursUnavailable.ToString("0", c),
                string.Create(c, $"{p.PeakSurvivorLoad[(int)CapacityResource.BytesInPerSec]:0.00} / {p.PeakSurvivorLoad[(int)CapacityResource.BytesOutPerSec]:0.00}"),
                p.Utilisation.ToString("0.00", c),
                string.Create(c, $"{p.Fleet.Accepted} of {o.Tenants}"));
        }

        console.Write(table);
        console.WriteLine(string.Create(c, $"Elapsed {elapsed:0.0} s, peak memory {memory / (1024.0 * 1024):0} MiB."));
    }
}
