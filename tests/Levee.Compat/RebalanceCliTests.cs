using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// `levee rebalance` on a real three-process cluster (`levee cluster up`) whose topic sits on brokers 1 and 2 only:
/// --dry-run proposes moves that lower the worst load after a single failure and changes nothing; a real run submits
/// them (AlterPartitionReassignments), follows them to completion (ListPartitionReassignments), and the partitions
/// end where the plan said, with every acknowledged record readable.
/// </summary>
public sealed class RebalanceCliTests : IAsyncLifetime
{
    private const string Topic = "skewed";
    private const int Partitions = 6;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-rebalance-cli-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => LeveeCli.DownAndDeleteAsync(_dir);

    [Fact]
    public async Task Rebalance_DryRunProposes_ThenARealRunMovesPartitionsOntoTheIdleBroker_LosingNothing()
    {
        var up = await LeveeCli.RunAsync("cluster", "up", "--brokers", "3", "--dir", _dir, "--base-port", "0", "--timeout-s", "90");
        Assert.True(up.ExitCode == 0, up.StdOut + up.StdErr);
        var bootstrap = up.StdOut.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("Bootstrap servers: ", StringComparison.Ordinal))["Bootstrap servers: ".Length..];
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        var assignment = Enumerable.Range(0, Partitions).ToDictionary(p => p, p => p % 2 == 0 ? new List<int> { 1, 2 } : [2, 1]);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = Topic, NumPartitions = Partitions, ReplicationFactor = -1, ReplicasAssignments = assignment }]);
        var sent = new List<string>();
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap, Acks = Acks.All, EnableIdempotence = true }).Build())
        {
            for (var i = 0; i < 300; i++)
            {
                var value = "v" + i.ToString(CultureInfo.InvariantCulture);
                await producer.ProduceAsync(new TopicPartition(Topic, i % Partitions), new Message<Null, string> { Value = value });
                sent.Add(value);
            }
        }

        var dry = await LeveeCli.RunAsync("rebalance", "--dry-run", "--json", "--bootstrap", bootstrap);
        Assert.True(dry.ExitCode == 0, dry.StdOut + dry.StdErr);
        using var plan = JsonDocument.Parse(dry.StdOut);
        var moves = plan.RootElement.GetProperty("moves").EnumerateArray().ToList();
        Assert.NotEmpty(moves);
        Assert.True(plan.RootElement.GetProperty("worst_after").GetDouble() < plan.RootElement.GetProperty("worst_before").GetDouble(), dry.StdOut);
        Assert.Equal(0, plan.RootElement.GetProperty("submitted").GetInt32());
        Assert.All(Replicas(admin).Values, r => Assert.DoesNotContain(3, r));

        var text = await LeveeCli.RunAsync("rebalance", "--dry-run", "--bootstrap", bootstrap);
        Assert.True(text.ExitCode == 0, text.StdOut + text.StdErr);
        Assert.Contains("Worst survivor load after any single failure:", text.StdOut, StringComparison.Ordinal);
        Assert.Contains("Dry run: nothing submitted.", text.StdOut, StringComparison.Ordinal);

        var run = await LeveeCli.RunAsync("rebalance", "--json", "--bootstrap", bootstrap, "--timeout-s", "120");
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        using var done = JsonDocument.Parse(run.StdOut);
        Assert.True(done.RootElement.GetProperty("completed").GetBoolean(), run.StdOut);
        var executed = done.RootElement.GetProperty("moves").EnumerateArray().ToList();
        Assert.Equal(executed.Count, done.RootElement.GetProperty("submitted").GetInt32());
        var replicas = Replicas(admin);
        foreach (var move in executed)
        {
            Assert.Equal(move.GetProperty("to").EnumerateArray().Select(e => e.GetInt32()), replicas[move.GetProperty("partition").GetInt32()]);
        }

        Assert.Contains(replicas.Values, r => r.Contains(3));

        // The cluster is now what the plan promised: asked again, it proposes no worse.
        var again = await LeveeCli.RunAsync("rebalance", "--dry-run", "--json", "--bootstrap", bootstrap);
        using var second = JsonDocument.Parse(again.StdOut);
        Assert.Equal(done.RootElement.GetProperty("worst_after").GetDouble(), second.RootElement.GetProperty("worst_before").GetDouble(), 6);

        Assert.Empty(sent.Except(Read(bootstrap, sent.Count)));
    }

    private static Dictionary<int, List<int>> Replicas(IAdminClient admin) =>
        admin.GetMetadata(Topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.ToDictionary(p => p.PartitionId, p => p.Replicas.ToList());

    private static HashSet<string> Read(string bootstrap, int count)
    {
        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "rebalance-check", EnableAutoCommit = false }).Build();
        consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(Topic, p, Offset.Beginning)));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (seen.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500))?.Message is { } message)
            {
                seen.Add(message.Value);
            }
        }

        return seen;
    }
}
