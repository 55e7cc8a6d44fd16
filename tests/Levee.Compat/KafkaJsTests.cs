using Confluent.Kafka;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// kafkajs (npm, pinned in js/package.json; `npm ci` in tests/Levee.Compat/js installs it, as .ci/run does) against
/// a started `levee serve`: its producer, and a two-member kafkajs consumer group on a topic another client produced.
/// </summary>
public sealed class KafkaJsTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync();

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task KafkaJs_ProducerWritesWhatKcatReads()
    {
        var produced = await NodeAsync("produce.js", _levee.BootstrapServers, "js-produced", "3", "600");
        Assert.Contains("produced 600", produced, StringComparison.Ordinal);

        var read = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-C", "-t", "js-produced", "-o", "beginning", "-e", "-q", "-f", "%k=%s\n"]);
        Assert.True(read.ExitCode == 0, read.StdErr);
        var lines = read.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 600).Select(i => $"k{i}=v{i}").Order(StringComparer.Ordinal), lines.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task KafkaJs_ConsumerGroupReadsATopicProducedByConfluentKafka_AndCommits()
    {
        const string topic = "js-group-topic";
        const int records = 900;
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _levee.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new Confluent.Kafka.Admin.TopicSpecification { Name = topic, NumPartitions = 3, ReplicationFactor = 1 }]);
        }

        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = _levee.BootstrapServers, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < records; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = $"k{i}", Value = $"v{i}" });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var output = await NodeAsync("consume-group.js", _levee.BootstrapServers, topic, "js-group", "2", records.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains($"distinct {records} committed 3", output, StringComparison.Ordinal);

        await GroupsCli.AssertLagZeroAsync(_levee.BootstrapServers, "js-group", topic, partitions: 3, records);
    }

    private static async Task<string> NodeAsync(string script, params string[] args)
    {
        var dir = GroupsCli.JsDirectory();
        Assert.True(
            Directory.Exists(Path.Combine(dir, "node_modules", "kafkajs")),
            $"kafkajs is not installed: run `npm ci` in {dir} (.ci/run does).");
        var result = await Tool.RunAsync("node", [Path.Combine(dir, script), .. args], timeout: TimeSpan.FromSeconds(120));
        Assert.True(result.ExitCode == 0, $"node {script} failed ({result.ExitCode}):\n{result.StdErr}\n{result.StdOut}");
        return result.StdOut;
    }
}
