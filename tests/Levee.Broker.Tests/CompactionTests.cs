using System.Diagnostics;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests;

public sealed class CompactionTests
{
    private const int Keys = 1_000;
    private const int Versions = 100;

    /// <summary>Every tenth key ends with a tombstone.</summary>
    private static bool Tombstoned(int key) => key % 10 == 0;

    private static string Key(int key) => $"key-{key:D4}";

    [Fact]
    public async Task CompactedTopic_IsCleanedToTheLatestValuePerKey_TombstonesGoAfterRetention_AndReadersNeverGoBack()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { LogCleanerBackoffMs = 50 });
        await CreateCompactedTopicAsync(broker, "compacted", new() { ["delete.retention.ms"] = "2000" });
        using var producer = new ProducerBuilder<string, string?>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, LingerMs = 5, EnableIdempotence = true, QueueBufferingMaxMessages = 2 * Keys * Versions }).Build();

        // A reader from offset 0, again and again, while the log is written and cleaned: a key's versions only go up.
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(() =>
        {
            var passes = 0;
            while (!stop.IsCancellationRequested)
            {
                var last = new Dictionary<string, int>();
                foreach (var (_, key, value) in ReadAll(broker.BootstrapServers, "compacted").Where(r => r.Key != "filler"))
                {
                    var version = value is null ? Versions : int.Parse(value[1..], System.Globalization.CultureInfo.InvariantCulture);
                    Assert.True(version > last.GetValueOrDefault(key, -1), $"{key}: version {version} after {last.GetValueOrDefault(key, -1)}");
                    last[key] = version;
                }

                passes++;
            }

            return passes;
        });

        var started = Stopwatch.StartNew();
        for (var v = 0; v < Versions; v++)
        {
            for (var k = 0; k < Keys; k++)
            {
                producer.Produce("compacted", new Message<string, string?> { Key = Key(k), Value = $"v{v}" });
            }
        }

        for (var k = 0; k < Keys; k += 10)
        {
            producer.Produce("compacted", new Message<string, string?> { Key = Key(k), Value = null });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        var written = started.Elapsed;

        // Fillers of their own key roll the active segment (which is never cleaned), now and again after the tombstones'
        // delete.retention.ms, so that a later cleaning finds them past their horizon.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<(long Offset, string Key, string? Value)> records;
        while (true)
        {
            await ProduceFillerAsync(producer);
            records = ReadAll(broker.BootstrapServers, "compacted").Where(r => r.Key != "filler").ToList();
            if (records.Count == Keys - (Keys / 10) || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(200);
        }

        var compacted = started.Elapsed;
        await stop.CancelAsync();
        Assert.True(await reader > 0);

        var expected = Enumerable.Range(0, Keys).Where(k => !Tombstoned(k)).ToDictionary(Key, _ => $"v{Versions - 1}");
        Assert.Equal(expected, records.ToDictionary(r => r.Key, r => r.Value ?? "(tombstone)"));
        Assert.Equal(records.Select(r => r.Offset).Order(), records.Select(r => r.Offset));

        // Offsets are kept: a live key's record sits where it was written (the last version's round).
        var lastRound = (long)(Versions - 1) * Keys;
        Assert.All(records, r => Assert.Equal(lastRound + int.Parse(r.Key[4..], System.Globalization.CultureInfo.InvariantCulture), r.Offset));
        Assert.True(broker.Broker.Replicas.Logs.CleanerPasses > 0);
        Console.WriteLine($"CompactionTests: {Keys * Versions} records written in {written.TotalSeconds:F1} s, compacted to {records.Count} in {compacted.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task Produce_WithoutAKey_ToACompactedTopic_IsRefusedWithInvalidRecord()
    {
        await using var broker = await TestBroker.StartAsync();
        await CreateCompactedTopicAsync(broker, "keyed", []);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();

        var e = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.ProduceAsync("keyed", new Message<Null, string> { Value = "no key" }));

        Assert.Equal(ErrorCode.InvalidRecord, e.Error.Code);
    }

    [Fact]
    public async Task CleanupPolicy_CompactAndDelete_IsAcceptedByAlterConfigs_AndNonsenseIsRefused()
    {
        await using var broker = await TestBroker.StartAsync();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "policies", NumPartitions = 1, ReplicationFactor = 1 }]);
        var resource = new ConfigResource { Type = ResourceType.Topic, Name = "policies" };

        await admin.IncrementalAlterConfigsAsync(Set(resource, "cleanup.policy", "compact,delete"));
        var described = await admin.DescribeConfigsAsync([resource]);
        Assert.Equal("compact,delete", described[0].Entries["cleanup.policy"].Value);

        var e = await Assert.ThrowsAsync<IncrementalAlterConfigsException>(() => admin.IncrementalAlterConfigsAsync(Set(resource, "cleanup.policy", "shred")));
        Assert.Equal(ErrorCode.InvalidConfig, e.Results[0].Error.Code);
    }

    [Fact]
    public async Task OffsetsTopic_IsCreatedCompacted_AndTheCleanerSettingsAreDescribed()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { LogCleanerThreads = 2 });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "any", NumPartitions = 1, ReplicationFactor = 1 }]);
        using (var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "g" }).Build())
        {
            consumer.Commit([new TopicPartitionOffset("any", 0, 5)]);
        }

        var described = await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Topic, Name = "__consumer_offsets" }]);
        Assert.Equal("compact", described[0].Entries["cleanup.policy"].Value);

        var brokerConfigs = (await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Broker, Name = "1" }]))[0].Entries;
        Assert.Equal(("true", "2", "0.5"), (brokerConfigs["log.cleaner.enable"].Value, brokerConfigs["log.cleaner.threads"].Value, brokerConfigs["log.cleaner.min.cleanable.ratio"].Value));
    }

    [Fact]
    public async Task OffsetsTopic_AfterCompaction_ReloadsTheLastCommitOfEachPartition_AndDeletedGroupsStayDeleted()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { OffsetsTopicPartitions = 1, OffsetsTopicSegmentBytes = 16_384, LogCleanerBackoffMs = 50 });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "t", NumPartitions = 4, ReplicationFactor = 1 }]);
        var partitions = Enumerable.Range(0, 4).Select(p => new TopicPartition("t", p)).ToList();
        using (var gone = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "gone" }).Build())
        {
            gone.Commit(partitions.Select(p => new TopicPartitionOffset(p, 7)));
        }

        await admin.DeleteGroupsAsync(["gone"]);
        using (var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "g" }).Build())
        {
            for (var i = 1; i <= 1_000; i++)
            {
                consumer.Commit(partitions.Select(p => new TopicPartitionOffset(p, i + p.Partition)));
            }
        }

        // Some 400 KB of commits in 16 KiB segments: cleaned, the inactive part holds one record per key.
        Assert.True(broker.Broker.Replicas.Logs.TryGet(new Levee.Storage.TopicPartition("__consumer_offsets", 0), out var log));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (log.Size > 3 * 16_384 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(log.Size <= 3 * 16_384, $"__consumer_offsets-0 is still {log.Size} bytes");
        await broker.RestartAsync();

        using var reader = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "g" }).Build();
        Assert.Equal(partitions.Select(p => 1_000L + p.Partition), reader.Committed(partitions, TimeSpan.FromSeconds(10)).Select(c => c.Offset.Value));
        using var goneReader = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "gone" }).Build();
        Assert.All(goneReader.Committed(partitions, TimeSpan.FromSeconds(10)), c => Assert.Equal(Offset.Unset, c.Offset));
    }

    private static Dictionary<ConfigResource, List<ConfigEntry>> Set(ConfigResource resource, string name, string value) =>
        new() { [resource] = [new ConfigEntry { Name = name, Value = value, IncrementalOperation = AlterConfigOpType.Set }] };

    private static async Task CreateCompactedTopicAsync(TestBroker broker, string topic, Dictionary<string, string> configs)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
        configs["cleanup.policy"] = "compact";
        configs["segment.bytes"] = "65536";
        configs["min.cleanable.dirty.ratio"] = "0.01";
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1, Configs = configs }]);
    }

    /// <summary>Somewhat more than a segment of records of the key "filler".</summary>
    private static async Task ProduceFillerAsync(IProducer<string, string?> producer)
    {
        var value = new string('f', 1_000);
        for (var i = 0; i < 70; i++)
        {
            producer.Produce("compacted", new Message<string, string?> { Key = "filler", Value = value });
        }

        await Task.Run(() => producer.Flush(TimeSpan.FromSeconds(10)));
    }

    /// <summary>Every record from offset 0 to the end of the partition.</summary>
    private static List<(long Offset, string Key, string? Value)> ReadAll(string bootstrap, string topic)
    {
        using var consumer = new ConsumerBuilder<string, string?>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "reader", EnablePartitionEof = true, EnableAutoCommit = false }).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var records = new List<(long, string, string?)>();
        while (true)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(10)) ?? throw new TimeoutException($"no end of {topic} after {records.Count} records");
            if (result.IsPartitionEOF)
            {
                return records;
            }

            records.Add((result.Offset.Value, result.Message.Key, result.Message.Value));
        }
    }
}
