using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Faults.Infrastructure;
using Xunit.Abstractions;

namespace Levee.Faults;

/// <summary>
/// Issue 12's headroom guard on a real 5-broker cluster with small limits: topics are created until the guard refuses
/// one, `levee capacity --json` shows every survivor within bound after any single failure, and killing each broker in
/// turn moves its leaderships where the failure plan says, spread over the survivors.
/// </summary>
public sealed class HeadroomTests(ITestOutputHelper output)
{
    private const int Capacity = 20;
    private const int Bound = 16;

    [Fact]
    public async Task OnFiveBrokers_TopicsAreCreatedUntilTheGuardRefuses_AndLosingAnyBrokerLeavesEverySurvivorWithinBound()
    {
        var settings = new Dictionary<string, string>(ClusterTimeouts.Short.Settings)
        {
            ["broker.capacity.partitions"] = Capacity.ToString(CultureInfo.InvariantCulture),
            ["leader.imbalance.check.interval.seconds"] = "1",
        };
        await using var cluster = await LeveeCluster.StartAsync(5, new ClusterTimeouts("capacity", settings));
        cluster.Name = "headroom";

        var created = 0;
        CreateTopicReport refusal;
        while (true)
        {
            try
            {
                await cluster.Admin.CreateTopicsAsync([new TopicSpecification { Name = $"h{created}", NumPartitions = 2, ReplicationFactor = 3 }]);
                created++;
            }
            catch (CreateTopicsException e)
            {
                refusal = Assert.Single(e.Results);
                break;
            }
        }

        output.WriteLine($"{created} topics of 2 x 3 replicas accepted; refused: {refusal.Error.Reason}");
        Assert.Equal(ErrorCode.PolicyViolation, refusal.Error.Code);
        Assert.Matches(@"^Creating topic 'h\d+' would leave the cluster unable to absorb the loss of broker \d: broker \d would then reach \d+ partitions, over 16 \(its limit 20, broker\.capacity\.partitions, less the headroom margin 0\.2\)\.$", refusal.Error.Reason);
        Assert.InRange(created * 6, 48, 80);

        // What the CLI reports: every broker's worst after any single failure within its bound.
        using var capacity = JsonDocument.Parse(await CliAsync(cluster, "capacity", "--json"));
        var brokers = capacity.RootElement.GetProperty("brokers").EnumerateArray().ToList();
        Assert.Equal(5, brokers.Count);
        Assert.Equal(created * 6, brokers.Sum(b => b.GetProperty("partitions").GetProperty("used").GetInt64()));
        foreach (var broker in brokers)
        {
            var partitions = broker.GetProperty("partitions");
            Assert.Equal(Capacity, partitions.GetProperty("limit").GetInt64());
            Assert.Equal(Bound, partitions.GetProperty("bound").GetInt64());
            Assert.InRange(partitions.GetProperty("worst").GetInt64(), 1, Bound);
            Assert.StartsWith("broker ", partitions.GetProperty("worst_failure").GetString(), StringComparison.Ordinal);
        }

        var topics = Enumerable.Range(0, created).Select(i => $"h{i}").ToList();
        foreach (var victim in cluster.Nodes)
        {
            var before = await PartitionsAsync(cluster, topics);
            var led = before.Where(p => p.State.Leader == victim.NodeId).ToList();
            await victim.KillAsync();
            var watch = Stopwatch.StartNew();
            IReadOnlyList<(string Topic, PartitionState State)> after = [];
            await Wait.UntilAsync(
                $"every partition led by a survivor of broker {victim.NodeId}",
                TimeSpan.FromSeconds(60),
                async () =>
                {
                    after = await PartitionsAsync(cluster, topics);
                    return after.Count == before.Count && after.All(p => p.State.Leader > 0 && p.State.Leader != victim.NodeId);
                },
                () => string.Join("; ", after.Where(p => p.State.Leader <= 0 || p.State.Leader == victim.NodeId).Select(p => $"{p.Topic}-{p.State.Partition} leader {p.State.Leader}")));
            var recovered = watch.Elapsed;

            // Each of its leaderships went to the failure plan's choice: the first surviving replica in preferred order.
            var takers = new Dictionary<int, int>();
            foreach (var (topic, state) in led)
            {
                var now = after.Single(p => p.Topic == topic && p.State.Partition == state.Partition).State;
                Assert.Equal(state.Replicas.First(r => r != victim.NodeId), now.Leader);
                takers[now.Leader] = takers.GetValueOrDefault(now.Leader) + 1;
            }

            // Spread: no survivor takes more than half of them (2 / (N - 1)), and each hosts no more than its bound.
            Assert.All(takers.Values, taken => Assert.True(taken <= Math.Max(1, (led.Count + 1) / 2), $"one survivor took {taken} of broker {victim.NodeId}'s {led.Count} leaderships: {string.Join(" ", led.Select(p => $"{p.Topic}-{p.State.Partition} [{string.Join(',', p.State.Replicas)}]"))}"));
            var hosted = after.SelectMany(p => p.State.Replicas).Where(r => r != victim.NodeId).GroupBy(r => r).Max(g => g.Count());
            Assert.True(hosted <= Bound, $"a survivor hosts {hosted} replicas");
            output.WriteLine($"broker {victim.NodeId} killed: its {led.Count} leaderships went to [{string.Join(", ", takers.OrderBy(t => t.Key).Select(t => $"{t.Key}: {t.Value}"))}] within {recovered.TotalSeconds:F1} s");

            // Back, and leading its preferred partitions again (auto.leader.rebalance), before the next broker goes.
            await cluster.RestartAsync(victim);
            await cluster.WaitForFullIsrEverywhereAsync(TimeSpan.FromSeconds(120));
            await Wait.UntilAsync(
                "every partition led by its preferred replica",
                TimeSpan.FromSeconds(60),
                async () => (await PartitionsAsync(cluster, topics)) is { Count: > 0 } now && now.All(p => p.State.Leader == p.State.Replicas[0]));
        }
    }

    private static async Task<IReadOnlyList<(string Topic, PartitionState State)>> PartitionsAsync(LeveeCluster cluster, IReadOnlyList<string> topics)
    {
        var all = new List<(string, PartitionState)>();
        foreach (var topic in topics)
        {
            if (await cluster.DescribeAsync(topic) is not { } states)
            {
                return [];
            }

            all.AddRange(states.Select(s => (topic, s)));
        }

        return all;
    }

    // Runs the levee CLI against the cluster and returns what it printed.
    private static async Task<string> CliAsync(LeveeCluster cluster, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "levee.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.ArgumentList.Add("--bootstrap-server");
        info.ArgumentList.Add(cluster.BootstrapServers.Split(',')[0]);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"levee {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        return await stdout;
    }
}
