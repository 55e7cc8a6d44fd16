using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests;

public sealed class ProduceConsumeTests : IAsyncLifetime
{
    private const int RecordCount = 100_000;
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Theory]
    [InlineData(CompressionType.None)]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public async Task Produce100kKeyedRecordsWithHeaders_AcksAll_ReadBackByteForByteWithContiguousOffsets(CompressionType codec)
    {
        var topic = "codec-" + codec.ToString().ToLowerInvariant();
        await CreateTopicAsync(topic, partitions: 1);

        var offsets = new long[RecordCount];
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            Acks = Acks.All,
            CompressionType = codec,
            LingerMs = 5,
            EnableIdempotence = false,
        }).Build())
        {
            var failures = 0;
            for (var i = 0; i < RecordCount; i++)
            {
                var index = i;
                producer.Produce(topic, Message(i), report =>
                {
                    if (report.Error.IsError)
                    {
                        Interlocked.Increment(ref failures);
                    }
                    else
                    {
                        offsets[index] = report.Offset.Value;
                    }
                });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
            Assert.Equal(0, failures);
        }

        Assert.Equal(Enumerable.Range(0, RecordCount).Select(i => (long)i), offsets);

        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            GroupId = "levee-tests",
            EnableAutoCommit = false,
        }).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        for (var i = 0; i < RecordCount; i++)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(10));
            Assert.True(result is not null, $"record {i} did not arrive");
            Assert.True(DateTime.UtcNow < deadline, "consuming took over a minute");
            var expected = Message(i);
            Assert.Equal(i, result.Offset.Value);
            Assert.Equal(expected.Key, result.Message.Key);
            Assert.Equal(expected.Value, result.Message.Value);
            Assert.Equal(expected.Headers.Count, result.Message.Headers.Count);
            Assert.Equal(expected.Headers[0].Key, result.Message.Headers[0].Key);
            Assert.Equal(expected.Headers[0].GetValueBytes(), result.Message.Headers[0].GetValueBytes());
        }
    }

    [Fact]
    public async Task Restart_KeepsRecordsAndOffsets()
    {
        const string topic = "restart";
        await CreateTopicAsync(topic, partitions: 3);
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = _broker.BootstrapServers, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < 300; i++)
            {
                await producer.ProduceAsync(new TopicPartition(topic, i % 3), Message(i));
            }
        }

        await _broker.RestartAsync();

        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = _broker.BootstrapServers, GroupId = "levee-tests", EnableAutoCommit = false }).Build();
        for (var p = 0; p < 3; p++)
        {
            var watermarks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10));
            Assert.Equal(0, watermarks.Low.Value);
            Assert.Equal(100, watermarks.High.Value);
        }

        consumer.Assign(new TopicPartitionOffset(topic, 1, Offset.Beginning));
        for (var n = 0; n < 100; n++)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(10));
            Assert.NotNull(result);
            Assert.Equal(n, result.Offset.Value);
            Assert.Equal(Message((n * 3) + 1).Value, result.Message.Value);
        }

        // And the restarted broker keeps appending after the recovered end.
        using var again = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        var delivered = await again.ProduceAsync(new TopicPartition(topic, 1), Message(1000));
        Assert.Equal(100, delivered.Offset.Value);
    }

    private async Task CreateTopicAsync(string topic, int partitions)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]);
    }

    private static Message<byte[], byte[]> Message(int i)
    {
        var random = new Random(i);
        var value = new byte[random.Next(1, 200)];
        random.NextBytes(value);
        return new Message<byte[], byte[]>
        {
            Key = Encoding.UTF8.GetBytes("key-" + i),
            Value = value,
            Headers = new Headers { { "index", BitConverter.GetBytes(i) } },
        };
    }
}
