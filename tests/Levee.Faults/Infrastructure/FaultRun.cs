using System.Globalization;
using Xunit.Abstractions;

namespace Levee.Faults.Infrastructure;

/// <summary>
/// One fault scenario end to end: a cluster, the checked topic (RF=3, min.insync.replicas=2, 12 partitions),
/// the checker producing throughout, the fault, then the checks: failover time, every acknowledged record
/// present once and in order, every partition back to full ISR.
/// </summary>
public sealed class FaultRun : IAsyncDisposable
{
    public const string Topic = "checked";
    public const int Partitions = 12;
    public const short ReplicationFactor = 3;
    public const int MinInsyncReplicas = 2;

    private static readonly TimeSpan FailoverDeadline = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan IsrDeadline = TimeSpan.FromSeconds(60);

    /// <summary>Members of the consumer group that reads the topic after the fault (polled in turn on one thread).</summary>
    private const int GroupMembers = 2;

    private static readonly TimeSpan GroupDeadline = TimeSpan.FromSeconds(90);
    private readonly ITestOutputHelper _output;

    private FaultRun(string name, LeveeCluster cluster, Checker checker, ITestOutputHelper output)
    {
        Name = name;
        Cluster = cluster;
        Checker = checker;
        _output = output;
    }

    public string Name { get; }

    public LeveeCluster Cluster { get; }

    public Checker Checker { get; }

    public List<(string What, TimeSpan Took)> Failovers { get; } = [];

    public static async Task<FaultRun> StartAsync(string name, int brokers, ClusterTimeouts timeouts, ITestOutputHelper output, bool idempotent = true)
    {
        var cluster = await LeveeCluster.StartAsync(brokers, timeouts);
        cluster.Name = name;
        Checker? checker = null;
        try
        {
            await cluster.CreateTopicAsync(Topic, Partitions, ReplicationFactor, MinInsyncReplicas);
            await cluster.WaitForFullIsrAsync(Topic, Partitions, IsrDeadline);
            checker = new Checker(cluster.BootstrapServers, Topic, Partitions, idempotent);
            var run = new FaultRun(name, cluster, checker, output);
            checker.Start();
            await checker.WaitForProgressAsync(50, TimeSpan.FromSeconds(60));
            run.Note($"{name}: {brokers} brokers, {timeouts.Name} timeouts, idempotent={idempotent}; warmed up with {checker.TotalAcks} acks");
            return run;
        }
        catch (Exception ex)
        {
            var tails = cluster.LogTails();
            checker?.Dispose();
            await cluster.DisposeAsync();
            throw new InvalidOperationException("Cluster setup failed: " + ex.Message + Environment.NewLine + tails, ex);
        }
    }

    /// <summary>The broker that leads the most partitions of the topic now.</summary>
    public async Task<int> BusiestLeaderAsync()
    {
        var states = await Cluster.DescribeAsync(Topic) ?? throw new InvalidOperationException("No metadata for the topic.");
        return states.Where(s => s.Leader >= 0).GroupBy(s => s.Leader).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
    }

    /// <summary>Partitions that have <paramref name="broker"/> among their replicas (acks=all on them waits for it until it leaves the ISR).</summary>
    public async Task<(int[] Led, int[] Replicated)> PartitionsOfAsync(int broker)
    {
        var states = await Cluster.DescribeAsync(Topic) ?? throw new InvalidOperationException("No metadata for the topic.");
        return ([.. states.Where(s => s.Leader == broker).Select(s => s.Partition)], [.. states.Where(s => s.Replicas.Contains(broker)).Select(s => s.Partition)]);
    }

    /// <summary>
    /// Waits until every partition in <paramref name="affected"/> acknowledged a record produced after the fault,
    /// and records the time from the fault to the last of those first acknowledgements.
    /// </summary>
    public async Task<TimeSpan> MeasureFailoverAsync(string what, long faultAt, IReadOnlyCollection<int> affected, IReadOnlyCollection<int>? ledPartitions = null, int? broker = null)
    {
        var metadata = broker is { } b ? WaitForMetadataFailoverAsync(b, faultAt) : Task.FromResult<TimeSpan?>(null);
        await Wait.UntilAsync(
            $"{what}: an acks=all produce to each affected partition after the fault",
            FailoverDeadline,
            () => affected.All(p => Checker.FirstAckProducedAfter(p, faultAt) is not null),
            () => "waiting on " + string.Join(',', affected.Where(p => Checker.FirstAckProducedAfter(p, faultAt) is null)) + Checker.Describe());
        TimeSpan Worst(IEnumerable<int> ps) => ps.Select(p => Checker.Since(faultAt, Checker.FirstAckProducedAfter(p, faultAt)!.AckedAt)).DefaultIfEmpty(TimeSpan.Zero).Max();
        var took = Worst(affected);
        Failovers.Add((what, took));
        TimeSpan Best(IEnumerable<int> ps) => ps.Select(p => Checker.Since(faultAt, Checker.FirstAckProducedAfter(p, faultAt)!.AckedAt)).DefaultIfEmpty(TimeSpan.Zero).Min();
        var led = ledPartitions is { Count: > 0 } ? $"; partitions it led: {Worst(ledPartitions).TotalMilliseconds:0} ms" : "";
        var moved = await metadata is { } m ? $"; metadata showed it out of every leadership and ISR after {m.TotalMilliseconds:0} ms" : "";
        Note($"{what}: failover {took.TotalMilliseconds:0} ms (fault to the first acks=all produce on all {affected.Count} affected partitions, first one {Best(affected).TotalMilliseconds:0} ms{led}{moved})");
        return took;
    }

    /// <summary>How long until Metadata shows <paramref name="broker"/> leading nothing and in no ISR (null if it never did within the deadline).</summary>
    private async Task<TimeSpan?> WaitForMetadataFailoverAsync(int broker, long faultAt)
    {
        try
        {
            await Wait.UntilAsync(
                $"broker {broker} out of leaderships and ISRs",
                FailoverDeadline,
                async () => await Cluster.DescribeAsync(Topic) is { } states && states.All(s => s.Leader != broker && s.Leader >= 0 && !s.Isr.Contains(broker)));
            return Checker.Since(faultAt, Checker.Now);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    public async Task WaitForFullIsrAsync(string after)
    {
        try
        {
            var took = await Cluster.WaitForFullIsrAsync(Topic, Partitions, IsrDeadline);
            Note($"{after}: all {Partitions} partitions back to full ISR {took.TotalMilliseconds:0} ms later");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + Environment.NewLine + Cluster.LogTails(), ex);
        }
    }

    /// <summary>
    /// Keeps producing a little more, stops the checker and checks every acknowledged record: read back by
    /// partition (assign + seek), then by a consumer group of <see cref="GroupMembers"/> members that must see
    /// them all and commit past them.
    /// </summary>
    public async Task StopAndVerifyAsync(bool expectNoDeliveryError)
    {
        await Checker.WaitForProgressAsync(50, TimeSpan.FromSeconds(60));
        await Checker.StopAsync();
        var failures = Checker.Failures.ToList();
        Note($"{Name}: {Checker.TotalAcks} records acknowledged, {failures.Count} delivery errors, {Checker.FatalErrors.Count} fatal client errors");
        foreach (var failure in failures.Take(5))
        {
            Note($"  delivery error p{failure.Partition} {failure.Value}: {failure.Error}");
        }

        var problems = await Task.Run(() => Verifier.Check(Cluster.BootstrapServers, Topic, Partitions, Checker, out var read));
        Note($"{Name}: verified {Checker.TotalAcks} acknowledged records against the partitions read back ({problems.Count} problems)");
        Assert.True(problems.Count == 0, "Acknowledged records lost, duplicated or reordered:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Take(30)) + Environment.NewLine + Cluster.LogTails(30));
        Assert.Empty(Checker.FatalErrors);
        await ReadAsGroupAsync();

        if (expectNoDeliveryError)
        {
            Assert.True(failures.Count == 0, $"{failures.Count} produce requests failed: " + string.Join("; ", failures.Take(10).Select(f => $"p{f.Partition} {f.Value}: {f.Error}")));
        }
    }

    /// <summary>
    /// A fresh consumer group (subscribe, earliest, no auto-commit) reads the topic after the fault: every
    /// acknowledged record seen, each partition in offset order per member and assignment, offsets committed
    /// to the end of every partition and read back, within <see cref="GroupDeadline"/>.
    /// </summary>
    public async Task ReadAsGroupAsync()
    {
        var groupId = $"faults-{Name}-{Guid.NewGuid():N}";
        var result = await Task.Run(() => GroupReader.Read(Cluster.BootstrapServers, Topic, Partitions, Checker, groupId, GroupMembers, GroupDeadline));
        Note($"{Name}: consumer group {groupId} ({result.Members} members): first record after {result.FirstRecordAfter.TotalMilliseconds:0} ms, "
            + $"all {Checker.TotalAcks} acknowledged records seen after {result.AllSeenAfter.TotalMilliseconds:0} ms ({result.RecordsSeen} read, {result.Duplicates} again or unacknowledged, "
            + $"{result.Assignments} assignments), committed and read back after {result.CommittedAfter.TotalMilliseconds:0} ms; {result.Problems.Count} problems, {result.ClientErrors.Count} client errors");
        foreach (var error in result.ClientErrors.Distinct().Take(5))
        {
            Note($"  group client error: {error}");
        }

        Assert.True(result.Problems.Count == 0, "The consumer group did not read every acknowledged record in order and commit:" + Environment.NewLine + string.Join(Environment.NewLine, result.Problems.Take(30)) + Environment.NewLine + Cluster.LogTails(30));
    }

    public void Note(string line) => Note(_output, line);

    /// <summary>Prints a line of a scenario's report to the test output, and appends it to LEVEE_FAULTS_REPORT's file when set.</summary>
    public static void Note(ITestOutputHelper output, string line)
    {
        var stamped = string.Create(CultureInfo.InvariantCulture, $"[faults] {line}");
        output.WriteLine(stamped);
        var file = Environment.GetEnvironmentVariable("LEVEE_FAULTS_REPORT");
        if (!string.IsNullOrEmpty(file))
        {
            File.AppendAllText(file, stamped + Environment.NewLine);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Checker.Dispose();
        await Cluster.DisposeAsync();
    }
}
