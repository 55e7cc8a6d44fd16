using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests;

public sealed class RetentionTests
{
    [Fact]
    public async Task RetentionBytes_DeletesOldSegments_AndEarliestOffsetFollowsTheLogStart()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { RetentionCheckIntervalMs = 100 });
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = "retained",
                NumPartitions = 1,
                ReplicationFactor = 1,
                Configs = new Dictionary<string, string> { ["segment.bytes"] = "2048", ["retention.bytes"] = "4096" },
            }]);
        }

        using (var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, LingerMs = 0, BatchNumMessages = 1 }).Build())
        {
            for (var i = 0; i < 200; i++)
            {
                await producer.ProduceAsync("retained", new Message<Null, byte[]> { Value = new byte[100] });
            }
        }

        using var consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "levee-tests" }).Build();
        var partition = new TopicPartition("retained", 0);
        // The retention pass runs in the background every 100 ms, also while the records were being
        // produced: poll for its settled effect, with a deadline: the log start moved, and the log is no more than
        // its oldest segment over retention.bytes (Kafka's rule: the oldest goes while the excess covers it).
        var directory = Path.Combine(broker.DataDir, "retained-0");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var watermarks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
        while ((watermarks.Low.Value == 0 || !Settled(directory, 4096)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            watermarks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
        }

        // The watermarks were asked for before the files were last looked at: ask again now that retention has settled,
        // or a pass that ran in between leaves the low watermark one segment behind the log start.
        watermarks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
        Assert.True(watermarks.Low.Value > 0, "the log start offset never moved");
        Assert.Equal(200, watermarks.High.Value);
        var segments = Directory.GetFiles(directory, "*.log");
        Assert.True(segments.Length <= 4, $"{segments.Length} segments left");

        consumer.Assign(new TopicPartitionOffset(partition, Offset.Beginning));
        var first = consumer.Consume(TimeSpan.FromSeconds(10));
        Assert.Equal(watermarks.Low.Value, first.Offset.Value);
    }

    private static bool Settled(string directory, long retentionBytes)
    {
        var sizes = Directory.GetFiles(directory, "*.log").Order(StringComparer.Ordinal).Select(f => new FileInfo(f).Length).ToList();
        return sizes.Count > 0 && sizes.Sum() - retentionBytes < sizes[0];
    }
}
