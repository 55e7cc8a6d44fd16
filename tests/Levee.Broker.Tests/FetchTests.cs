using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests;

public sealed class FetchTests : IAsyncLifetime
{
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task Fetch_StartingInTheMiddleOfABatch_ReturnsTheWholeBatch()
    {
        await CreateTopicAsync("mid-batch");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var records = Enumerable.Range(0, 10).Select(i => new RecordData(null, Encoding.UTF8.GetBytes("r" + i), now)).ToArray();
        await ProduceRawAsync("mid-batch", RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), records));

        var fetched = await FetchRawAsync("mid-batch", offset: 5, version: 12);
        Assert.Equal((short)KafkaErrorCode.None, fetched.ErrorCode);
        Assert.Equal(10, fetched.HighWatermark);
        var bytes = fetched.Records!.Value.ToArray();
        var header = new RecordBatchHeader(bytes);
        Assert.Equal(0, header.BaseOffset);
        Assert.Equal(10, header.RecordCount);
        Assert.Equal(header.TotalSize, bytes.Length);

        // And a real client seeking there gets exactly offset 5 first.
        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig { BootstrapServers = _broker.BootstrapServers, GroupId = "levee-tests" }).Build();
        consumer.Assign(new TopicPartitionOffset("mid-batch", 0, 5));
        var first = consumer.Consume(TimeSpan.FromSeconds(10));
        Assert.Equal(5, first.Offset.Value);
        Assert.Equal("r5", first.Message.Value);
    }

    [Fact]
    public async Task Fetch_BeyondTheLogEnd_ReturnsOffsetOutOfRange()
    {
        await CreateTopicAsync("out-of-range");
        var fetched = await FetchRawAsync("out-of-range", offset: 42, version: 12);
        Assert.Equal((short)KafkaErrorCode.OffsetOutOfRange, fetched.ErrorCode);
    }

    [Fact]
    public async Task Fetch_WithMinBytes_WaitsForDataThenAnswers()
    {
        await CreateTopicAsync("long-poll");
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        const short version = 12;
        var request = FetchRequestFor("long-poll", 0, maxWaitMs: 30_000, minBytes: 1);
        var id = await client.SendAsync(ApiKey.Fetch, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var pending = client.ReceiveAsync(ApiKey.Fetch, version, id);
        Assert.False(pending.IsCompleted);

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await ProduceRawAsync("long-poll", RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, "wake"u8.ToArray(), now)]));
        var body = await pending.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        var partition = FetchResponse.Read(ref reader, version).Responses[0].Partitions[0];
        Assert.Equal(1, partition.HighWatermark);
        Assert.True(partition.Records!.Value.Length > RecordBatchHeader.Size);
    }

    [Fact]
    public async Task Fetch_ByTopicId_AtVersion13AndLater_Works()
    {
        await CreateTopicAsync("by-id");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await ProduceRawAsync("by-id", RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, "x"u8.ToArray(), now)]));
        var fetched = await FetchRawAsync("by-id", offset: 0, version: 17);
        Assert.Equal((short)KafkaErrorCode.None, fetched.ErrorCode);
        Assert.Equal(1, fetched.HighWatermark);
    }

    private async Task CreateTopicAsync(string topic)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
    }

    private FetchRequest FetchRequestFor(string topic, long offset, int maxWaitMs, int minBytes)
    {
        Assert.True(_broker.Broker.Replicas.Topics.TryGet(topic, out var info));
        var request = new FetchRequest { MaxWaitMs = maxWaitMs, MinBytes = minBytes, MaxBytes = 1 << 20, SessionEpoch = -1 };
        var fetchTopic = new FetchRequest.FetchTopic { Topic = topic, TopicId = info.TopicId };
        fetchTopic.Partitions.Add(new FetchRequest.FetchPartition { Partition = 0, FetchOffset = offset, PartitionMaxBytes = 1 << 20 });
        request.Topics.Add(fetchTopic);
        return request;
    }

    private async Task<FetchResponse.PartitionData> FetchRawAsync(string topic, long offset, short version)
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var request = FetchRequestFor(topic, offset, maxWaitMs: 0, minBytes: 0);
        var id = await client.SendAsync(ApiKey.Fetch, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.Fetch, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return FetchResponse.Read(ref reader, version).Responses[0].Partitions[0];
    }

    private async Task ProduceRawAsync(string topic, byte[] batch)
    {
        const short version = 9;
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var request = new ProduceRequest { Acks = 1, TimeoutMs = 10_000 };
        var topicData = new ProduceRequest.TopicProduceData { Name = topic };
        topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = 0, Records = batch });
        request.TopicData.Add(topicData);
        var id = await client.SendAsync(ApiKey.Produce, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.Produce, version, id);
        var reader = new KafkaReader(body!);
        Assert.Equal(0, ProduceResponse.Read(ref reader, version).Responses[0].PartitionResponses[0].ErrorCode);
    }
}
