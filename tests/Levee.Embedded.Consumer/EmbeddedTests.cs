using System.Diagnostics;
using Confluent.Kafka;

namespace Levee.Embedded.Consumer;

/// <summary>
/// Levee.Embedded as a user's test suite takes it: the packed package from a feed, Confluent.Kafka against it.
/// </summary>
public sealed class EmbeddedTests
{
    [Fact]
    public async Task Start_ProduceAndConsume_Dispose_LeavesNoFileOpenOrBehind()
    {
        string dataDirectory;
        await using (var kafka = await LeveeServer.StartAsync())
        {
            dataDirectory = kafka.DataDirectory;
            await kafka.CreateTopicAsync("orders", partitions: 3);
            await ProduceAndConsumeAsync(kafka.BootstrapServers, "orders", 100, Acks.All);
            Assert.NotEmpty(OpenFilesUnder(dataDirectory));
        }

        Assert.False(Directory.Exists(dataDirectory), "the temporary data directory is removed");
        Assert.Empty(OpenFilesUnder(dataDirectory));
    }

    [Fact]
    public async Task TwoServersInOneProcess_RunOnTheirOwnPorts_AndDoNotShareTopics()
    {
        await using var first = await LeveeServer.StartAsync(new LeveeServerOptions { Settings = new Dictionary<string, string> { ["auto.create.topics.enable"] = "false" } });
        await using var second = await LeveeServer.StartAsync(new LeveeServerOptions { Settings = new Dictionary<string, string> { ["auto.create.topics.enable"] = "false" } });
        Assert.NotEqual(first.Ports[0], second.Ports[0]);

        await first.CreateTopicAsync("only-in-first");
        await ProduceAndConsumeAsync(first.BootstrapServers, "only-in-first", 10, Acks.All);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = second.BootstrapServers }).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(metadata.Topics, t => t.Topic == "only-in-first");

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => first.CreateTopicAsync("only-in-first"));
        Assert.Contains("TopicAlreadyExists", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AThreeBrokerCluster_InOneProcess_ReplicatesWithAcksAll()
    {
        await using var kafka = await LeveeServer.StartAsync(new LeveeServerOptions { Brokers = 3 });
        Assert.Equal(3, kafka.Ports.Distinct().Count());
        await kafka.CreateTopicAsync("replicated", partitions: 2, replicationFactor: 3);
        await ProduceAndConsumeAsync(kafka.BootstrapServers, "replicated", 50, Acks.All);

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        var topic = admin.GetMetadata("replicated", TimeSpan.FromSeconds(10)).Topics.Single();
        Assert.All(topic.Partitions, p => Assert.Equal(3, p.Replicas.Length));
    }

    [Fact]
    public async Task AnUnknownSetting_IsRefused_NamingIt()
    {
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => LeveeServer.StartAsync(new LeveeServerOptions { Settings = new Dictionary<string, string> { ["num.partitons"] = "3" } }));
        Assert.Contains("num.partitons", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartingAndStoppingAgainAndAgain_LeaksNoThreads()
    {
        // One round first, so that the thread pool and the runtime's own threads are warm.
        await RoundAsync();
        var baseline = await SettledThreadCountAsync(int.MaxValue);
        for (var i = 0; i < 5; i++)
        {
            await RoundAsync();
        }

        // A thread left behind per server would be 5 more; idle pool threads retire, so wait (bounded) for them.
        var after = await SettledThreadCountAsync(baseline + 3);
        Assert.True(after <= baseline + 3, $"{after} threads after 5 more servers, {baseline} before");

        static async Task RoundAsync()
        {
            await using var kafka = await LeveeServer.StartAsync();
            await ProduceAndConsumeAsync(kafka.BootstrapServers, "rounds", 5, Acks.Leader);
        }
    }

    private static async Task<int> SettledThreadCountAsync(int target)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        int count;
        while ((count = Process.GetCurrentProcess().Threads.Count) > target && DateTime.UtcNow < deadline)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Delay(500);
        }

        return count;
    }

    private static async Task ProduceAndConsumeAsync(string bootstrap, string topic, int count, Acks acks)
    {
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap, Acks = acks, EnableIdempotence = acks == Acks.All }).Build())
        {
            for (var i = 0; i < count; i++)
            {
                producer.Produce(topic, new Message<Null, string> { Value = "record-" + i });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        using var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "embedded-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(topic);
        var seen = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (seen.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { } result)
            {
                seen.Add(result.Message.Value);
            }
        }

        consumer.Close();
        Assert.Equal(count, seen.Count);
    }

    // Files this process holds open below a directory (Linux: /proc/self/fd).
    private static List<string> OpenFilesUnder(string directory)
    {
        var open = new List<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith(directory, StringComparison.Ordinal))
                {
                    open.Add(target);
                }
            }
            catch (IOException)
            {
                // The descriptor closed while we looked.
            }
        }

        return open;
    }
}
