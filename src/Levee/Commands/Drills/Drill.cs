using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Cluster;
using Levee.Commands.Clusters;
using Levee.Protocol.Messages;

namespace Levee.Commands.Drills;

/// <summary>What a drill does to its broker.</summary>
internal enum DrillFaultKind
{
    /// <summary>kill -9, optionally started again after a while.</summary>
    Kill,

    /// <summary>SIGSTOP for a while, then SIGCONT.</summary>
    Pause,
}

/// <summary>A drill's fault: kill (and restart after <paramref name="For"/>, if given) or pause for <paramref name="For"/>.</summary>
internal sealed record DrillFault(DrillFaultKind Kind, TimeSpan? For);

/// <summary>
/// One drill: a probe producing and consuming through the fault, the cluster sampled every half second (Metadata for
/// leaders and ISRs, Levee's CAPACITY resource for each survivor's load against its limits), the fault injected into
/// the broker's process after a short warm-up and ended as asked, and, once the broker is back, a wait for every
/// partition's full ISR.
/// </summary>
internal sealed class Drill(string dir, ClusterFile file, ClusterNode victim, DrillFault fault, TimeSpan duration)
{
    public const string ProbeTopic = "levee-drill";
    private const sbyte CapacityResource = 102;
    private static readonly TimeSpan Sample = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan FullIsrWait = TimeSpan.FromSeconds(120);

    public async Task<DrillReport> RunAsync(CancellationToken cancellationToken)
    {
        var survivors = file.Nodes.Where(n => n.NodeId != victim.NodeId).ToList();
        var survivorBootstrap = string.Join(',', survivors.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n.Host}:{n.Port}")));
        await EnsureProbeTopicAsync(file.BootstrapServers, file.Nodes.Count).ConfigureAwait(false);
        var peaks = survivors.ToDictionary(n => n.NodeId, _ => new Dictionary<string, (long Peak, long Limit)>(StringComparer.Ordinal));
        var under = new List<(double Seconds, int Count)>();
        var elections = 0;
        double? recovered = null;
        double? fullIsr = null;
        IReadOnlyList<string> lagging = [];

        using var probe = Probe.Start(file.BootstrapServers, ProbeTopic);
        var clock = Stopwatch.StartNew();

        // The warm-up is part of the drill's design (the probe's group creates its offsets topic), not a wait on state.
        await Task.Delay(WarmUp, cancellationToken).ConfigureAwait(false);

        // The cluster is one `levee cluster up` started: its listeners are PLAINTEXT (security: null).
        var leaders = (await ClusterAdmin.DescribeAsync(file.BootstrapServers, security: null, TimeSpan.FromSeconds(10)).ConfigureAwait(false)).Partitions.ToDictionary(p => (p.Topic, p.Partition), p => p.Leader);
        var led = leaders.Count(l => l.Value == victim.NodeId);

        Console.WriteLine($"Broker {victim.NodeId} (pid {victim.Pid}) leads {led} of {leaders.Count} partitions; {Describe(fault)} it now.");
        var faultAt = clock.Elapsed;
        var active = true;
        await InjectAsync().ConfigureAwait(false);
        await using var capacity = ClusterAdmin.Connect(survivorBootstrap.Split(',')[0], "levee-drill", security: null, TimeSpan.FromSeconds(5));
        while (clock.Elapsed - faultAt < duration || (!active && fullIsr is null && clock.Elapsed - faultAt < duration + FullIsrWait))
        {
            var t = (clock.Elapsed - faultAt).TotalSeconds;
            if (active && fault.For is { } span && clock.Elapsed - faultAt >= span)
            {
                await EndFaultAsync(cancellationToken).ConfigureAwait(false);
                active = false;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{t,6:F1} s  broker {victim.NodeId} {(fault.Kind == DrillFaultKind.Kill ? "restarted" : "resumed")}"));
            }

            ClusterView? view = null;
            try
            {
                view = await ClusterAdmin.DescribeAsync(active ? survivorBootstrap : file.BootstrapServers, security: null, TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (ClusterCommandException)
            {
                // No survivor answered this time: the sample is missing, not zero.
            }

            if (view is not null)
            {
                var leaderless = view.Partitions.Count(p => p.Leader < 0 || (active && p.Leader == victim.NodeId));
                var underReplicated = view.Partitions.Count(p => p.UnderReplicated);
                foreach (var p in view.Partitions)
                {
                    if (leaders.TryGetValue((p.Topic, p.Partition), out var before) && before != p.Leader && p.Leader >= 0)
                    {
                        elections++;
                    }

                    leaders[(p.Topic, p.Partition)] = p.Leader;
                }

                under.Add((t, underReplicated));
                lagging = [.. view.Partitions.Where(p => p.UnderReplicated).Select(p => $"{p.Topic}-{p.Partition} replicas [{string.Join(',', p.Replicas)}] isr [{string.Join(',', p.Isr)}]")];
                recovered ??= leaderless == 0 ? t : null;
                if (!active && underReplicated == 0 && leaderless == 0)
                {
                    fullIsr ??= t;
                }

                var stats = probe.Snapshot();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{t,6:F1} s  without a live leader {leaderless,4}  under-replicated {underReplicated,4}  elections {elections,4}  probe acked {stats.Acknowledged,6} errors {stats.Errors,3}"));
            }

            await SampleCapacityAsync(capacity, survivors, peaks).ConfigureAwait(false);
            await Task.Delay(Sample, cancellationToken).ConfigureAwait(false);
        }

        var result = probe.Stop();
        return new DrillReport(victim.NodeId, fault, led, recovered, fullIsr, elections, under, fullIsr is null ? lagging : [], result, peaks);
    }

    private async Task InjectAsync()
    {
        await Processes.SignalAsync(victim.Pid, fault.Kind == DrillFaultKind.Kill ? "KILL" : "STOP").ConfigureAwait(false);
        if (fault.Kind == DrillFaultKind.Kill)
        {
            await Processes.WaitForExitAsync(victim.Pid, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
    }

    // SIGCONT, or the broker started again with the command `levee cluster up` gave it, and cluster.json updated.
    private async Task EndFaultAsync(CancellationToken cancellationToken)
    {
        if (fault.Kind == DrillFaultKind.Pause)
        {
            await Processes.SignalAsync(victim.Pid, "CONT").ConfigureAwait(false);
            return;
        }

        var command = victim.Command ?? throw new ClusterCommandException($"{ClusterFile.PathIn(dir)} does not say how broker {victim.NodeId} was started (made by an older levee); restart it by hand.");
        var offset = new FileInfo(victim.Log).Length;
        var pid = await Processes.StartDetachedAsync(command, victim.Log, cancellationToken).ConfigureAwait(false);
        var restarted = victim with { Pid = pid };
        (file with { Nodes = [.. file.Nodes.Select(n => n.NodeId == victim.NodeId ? restarted : n)] }).Write(dir);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!ClusterCommand.LogSaysReady(restarted, offset))
        {
            if (!Processes.IsAlive(pid) || DateTime.UtcNow >= deadline)
            {
                throw new ClusterCommandException($"Broker {victim.NodeId} did not come back (see {victim.Log}).");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task SampleCapacityAsync(BrokerClient client, List<ClusterNode> survivors, Dictionary<int, Dictionary<string, (long Peak, long Limit)>> peaks)
    {
        var request = new DescribeConfigsRequest();
        request.Resources.AddRange(survivors.Select(n => new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = CapacityResource, ResourceName = n.NodeId.ToString(CultureInfo.InvariantCulture) }));
        DescribeConfigsResponse response;
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            response = await client.SendAsync<DescribeConfigsRequest, DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, request, cancel.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or TimeoutException)
        {
            return;
        }

        foreach (var result in response.Results.Where(r => r.ErrorCode == 0))
        {
            var id = int.Parse(result.ResourceName, CultureInfo.InvariantCulture);
            var values = result.Configs.ToDictionary(c => c.Name, c => long.TryParse(c.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : 0, StringComparer.Ordinal);
            foreach (var (name, used) in values.Where(v => v.Key.EndsWith(".used", StringComparison.Ordinal)))
            {
                var resource = name[..^".used".Length];
                var limit = values.GetValueOrDefault(resource + ".limit");
                var current = peaks[id].GetValueOrDefault(resource);
                peaks[id][resource] = (Math.Max(current.Peak, used), limit);
            }
        }
    }

    // The probe's topic: a partition per broker, three replicas (fewer on a smaller cluster), two in sync for acks=all.
    private static async Task EnsureProbeTopicAsync(string bootstrap, int brokers)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        var replicas = (short)Math.Min(3, brokers);
        try
        {
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = ProbeTopic,
                NumPartitions = brokers,
                ReplicationFactor = replicas,
                Configs = new() { ["min.insync.replicas"] = replicas >= 3 ? "2" : "1" },
            }]).ConfigureAwait(false);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code == ErrorCode.TopicAlreadyExists))
        {
            // From an earlier drill.
        }
        catch (CreateTopicsException e)
        {
            throw new ClusterCommandException($"The probe topic {ProbeTopic} could not be created: {e.Results[0].Error.Reason}");
        }
    }

    private static string Describe(DrillFault fault) => fault switch
    {
        { Kind: DrillFaultKind.Kill, For: { } s } => string.Create(CultureInfo.InvariantCulture, $"killing (restart after {s.TotalSeconds:0} s)"),
        { Kind: DrillFaultKind.Kill } => "killing",
        _ => string.Create(CultureInfo.InvariantCulture, $"pausing ({fault.For!.Value.TotalSeconds:0} s)"),
    };
}
