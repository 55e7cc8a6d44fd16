using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Compat.Infrastructure;
using Xunit.Abstractions;

namespace Levee.Compat;

/// <summary>
/// Exactly-once on a three-process cluster: a consume-transform-produce loop (Confluent.Kafka's, then
/// confluent-kafka-python's), each step one transaction with the group's offsets, is killed with kill -9 at random
/// points and started again, while a broker is killed and restarted under it; the output read with read_committed
/// holds every input record exactly once.
/// </summary>
public sealed class ExactlyOnceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Records = 5000;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-eos-" + Guid.NewGuid().ToString("N"));
    private string _bootstrap = "";

    public async Task InitializeAsync()
    {
        await LeveeCli.UpForDrillsAsync(_dir, 3);
        using var cluster = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "cluster.json")));
        _bootstrap = string.Join(',', cluster.RootElement.GetProperty("nodes").EnumerateArray().Select(n => $"{n.GetProperty("host").GetString()}:{n.GetProperty("port").GetInt32()}"));
    }

    public Task DisposeAsync() => LeveeCli.DownAndDeleteAsync(_dir);

    [Fact]
    public async Task ConfluentKafkaLoop_KilledAtRandomPoints_AndABrokerKilled_WritesEachInputExactlyOnce()
    {
        await RunKilledLoopAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "Levee.Eos.App.dll")], "dotnet", killBroker: true);
    }

    [Fact]
    public async Task ConfluentPythonLoop_KilledAtRandomPoints_WritesEachInputExactlyOnce()
    {
        await RunKilledLoopAsync(Tool.Python, [Path.Combine(AppContext.BaseDirectory, "eos_loop.py")], "python", killBroker: false);
    }

    private async Task RunKilledLoopAsync(string file, string[] program, string name, bool killBroker)
    {
        string input = $"{name}-in", sink = $"{name}-out";
        await CreateTopicsAsync(input, sink);
        await ProduceInputAsync(input);
        var seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"seed {seed}");
        string[] args = [.. program, _bootstrap, input, sink, $"{name}-group", $"{name}-txn", Records.ToString(CultureInfo.InvariantCulture)];

        // Runs killed at random points once they are working (the first while a broker is killed and restarted
        // under it, for the Confluent.Kafka loop), until one finishes.
        for (var run = 0; ; run++)
        {
            Assert.True(run < 20, "the loop never finished");
            await using var loop = RunningTool.Start(file, args);
            await loop.WaitUntilAsync($"{name} loop run {run} working", t => t.StdOut.Contains("committed", StringComparison.Ordinal) || t.StdOut.Contains("done", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
            if (run >= 3 || loop.StdOut.Contains("done", StringComparison.Ordinal))
            {
                var exit = await loop.WaitForExitAsync(TimeSpan.FromSeconds(240));
                Assert.True(exit == 0, $"exit {exit}\n{loop.StdOut}\n{loop.StdErr}");
                break;
            }

            // The broker killed is the loop's transaction coordinator: the leader of its __transaction_state partition.
            var drill = killBroker && run == 0
                ? LeveeCli.RunAsync("fail", "--broker", (await CoordinatorOfAsync($"{name}-txn")).ToString(CultureInfo.InvariantCulture), "--kill", "--restart-after", "3", "--duration", "6", "--dir", _dir)
                : null;
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(200, 2500)));
            await loop.KillAsync();
            output.WriteLine($"run {run} killed after {loop.StdOut.Split('\n').Count(l => l.StartsWith("committed", StringComparison.Ordinal))} commits");
            if (drill is not null)
            {
                var report = await drill;
                Assert.True(report.ExitCode == 0, report.StdOut + report.StdErr);
                output.WriteLine(report.StdOut);
            }
        }

        var read = ReadCommitted(sink);
        var expected = Enumerable.Range(0, Records).Select(i => $"out-v{i}").Order().ToList();
        var duplicates = read.GroupBy(v => v).Where(g => g.Count() > 1).Select(g => g.Key).Take(5).ToList();
        Assert.True(duplicates.Count == 0, $"written more than once: {string.Join(", ", duplicates)}");
        Assert.Equal(expected, read.Order().ToList());
    }

    /// <summary>The broker leading the transactional id's __transaction_state partition (Kafka's hash, as Levee's).</summary>
    private async Task<int> CoordinatorOfAsync(string transactionalId)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _bootstrap }).Build();
        var topic = (await admin.DescribeTopicsAsync(TopicCollection.OfTopicNames(["__transaction_state"]))).TopicDescriptions.Single();
        var partition = Levee.Broker.Groups.GroupCoordinator.PartitionFor(transactionalId, topic.Partitions.Count);
        return topic.Partitions.Single(p => p.Partition == partition).Leader.Id;
    }

    private async Task CreateTopicsAsync(params string[] topics)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _bootstrap }).Build();
        await admin.CreateTopicsAsync(topics.Select(t => new TopicSpecification
        {
            Name = t,
            NumPartitions = 3,
            ReplicationFactor = 3,
            Configs = new Dictionary<string, string> { ["min.insync.replicas"] = "2" },
        }));
    }

    private async Task ProduceInputAsync(string topic)
    {
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = _bootstrap, Acks = Acks.All, EnableIdempotence = true, LingerMs = 5 }).Build();
        for (var i = 0; i < Records; i++)
        {
            producer.Produce(topic, new Message<string, string> { Key = $"k{i}", Value = $"v{i}" });
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        await Task.CompletedTask;
    }

    private List<string> ReadCommitted(string topic)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = _bootstrap,
            GroupId = "eos-verifier",
            IsolationLevel = IsolationLevel.ReadCommitted,
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).Build();
        consumer.Assign(Enumerable.Range(0, 3).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var values = new List<string>();
        var atEnd = new HashSet<int>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && (values.Count < Records || atEnd.Count < 3))
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is null)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                atEnd.Add(result.Partition.Value);
                continue;
            }

            atEnd.Remove(result.Partition.Value);
            values.Add(result.Message.Value);
        }

        return values;
    }
}
