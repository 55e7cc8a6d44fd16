using System.CommandLine;
using System.Globalization;
using Levee.Commands.Clusters;
using Levee.Commands.Drills;

namespace Levee.Commands;

/// <summary>
/// `levee fail --broker N (--kill [--restart-after S] | --pause S) [--duration S] [--dir DIR] [--json FILE]`: a drill
/// against a local cluster (`levee cluster up`). It injects the fault into broker N's process while a probe produces
/// (acks=all) and consumes, and reports live and at the end: elections, the time until every partition had a live
/// leader again, under-replicated partitions over time, each survivor's peak load against its limits, probe errors
/// and latency (docs/cascades.md).
/// </summary>
internal static class FailCommand
{
    public static Command Create()
    {
        var broker = new Option<int>("--broker") { Description = "The broker to fail (its node id).", Required = true };
        var kill = new Option<bool>("--kill") { Description = "kill -9 the broker's process." };
        var restartAfter = new Option<int?>("--restart-after") { Description = "With --kill: start the broker again after this many seconds." };
        var pause = new Option<int?>("--pause") { Description = "SIGSTOP the broker's process for this many seconds, then SIGCONT (a broker that hangs)." };
        var duration = new Option<int>("--duration") { Description = "Seconds the probe runs after the fault (and the drill waits for full ISR within).", DefaultValueFactory = _ => 30 };
        var dir = ClusterCommand.DirOption();
        var json = new Option<string?>("--json") { Description = "Write the report as JSON to this file." };
        var command = new Command("fail", "Drill: fail one broker of a local cluster under a probe load and report how the cluster rode it out.")
        {
            broker, kill, restartAfter, pause, duration, dir, json,
        };
        command.SetAction((parse, cancellation) => ClusterCommand.RunAsync(async () =>
        {
            var fault = Fault(parse.GetValue(kill), parse.GetValue(restartAfter), parse.GetValue(pause));
            var seconds = parse.GetValue(duration);
            if (seconds < 1)
            {
                throw new ClusterCommandException("--duration must be at least 1 second.");
            }

            var home = Path.GetFullPath(parse.GetValue(dir)!);
            var file = ClusterFile.TryRead(home) ?? throw new ClusterCommandException($"No {ClusterFile.PathIn(home)}: start a cluster with `levee cluster up --dir {home}` first.");
            var id = parse.GetValue(broker);
            var node = file.Nodes.FirstOrDefault(n => n.NodeId == id)
                ?? throw new ClusterCommandException($"The cluster in {home} has no broker {id} (it has {string.Join(", ", file.Nodes.Select(n => n.NodeId))}).");
            if (!Processes.IsAlive(node.Pid))
            {
                throw new ClusterCommandException($"Broker {id} (pid {node.Pid}) is not running.");
            }

            var report = await new Drill(home, file, node, fault, TimeSpan.FromSeconds(seconds)).RunAsync(cancellation).ConfigureAwait(false);
            if (parse.GetValue(json) is { } path)
            {
                await File.WriteAllTextAsync(path, report.ToJson(), cancellation).ConfigureAwait(false);
            }

            report.Print(ClusterCommand.CreateConsole());
            return 0;
        }));
        return command;
    }

    private static DrillFault Fault(bool kill, int? restartAfter, int? pause) => (kill, pause) switch
    {
        (true, null) when restartAfter is null or >= 0 => new DrillFault(DrillFaultKind.Kill, restartAfter is { } s ? TimeSpan.FromSeconds(s) : null),
        (false, { } s) when s >= 0 && restartAfter is null => new DrillFault(DrillFaultKind.Pause, TimeSpan.FromSeconds(s)),
        (false, null) => throw new ClusterCommandException("Name the fault: --kill [--restart-after SECONDS] or --pause SECONDS."),
        _ => throw new ClusterCommandException(string.Create(CultureInfo.InvariantCulture, $"Name one fault: --kill [--restart-after SECONDS] or --pause SECONDS, with non-negative seconds.")),
    };
}
