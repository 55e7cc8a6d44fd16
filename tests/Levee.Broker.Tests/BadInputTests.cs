using System.Buffers.Binary;
using Confluent.Kafka;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests;

public sealed class BadInputTests : IAsyncLifetime
{
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task FrameLengthOf2GiB_ClosesTheConnection_AndOthersKeepWorking()
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var prefix = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(prefix, int.MaxValue);
        await client.Stream.WriteAsync(prefix);
        Assert.True(await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
        await AssertBrokerServesAsync();
    }

    [Fact]
    public async Task NegativeFrameLength_ClosesTheConnection()
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        await client.Stream.WriteAsync(new byte[] { 0xFF, 0xFF, 0xFF, 0xF0 });
        Assert.True(await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
        await AssertBrokerServesAsync();
    }

    [Fact]
    public async Task TruncatedFrame_ThenDisconnect_LeavesTheBrokerServing()
    {
        using (var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers))
        {
            var frame = new byte[4 + 20];
            BinaryPrimitives.WriteInt32BigEndian(frame, 100);
            await client.Stream.WriteAsync(frame);
        }

        await AssertBrokerServesAsync();
    }

    [Fact]
    public async Task RandomFrames_AreAnsweredOrClosed_NeverCrashTheBroker()
    {
        var random = new Random(1234);
        for (var i = 0; i < 200; i++)
        {
            using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
            var payload = new byte[random.Next(0, 300)];
            random.NextBytes(payload);
            if (payload.Length >= 4 && i % 2 == 0)
            {
                // Half of the frames carry a real API key and version so the body decoders get exercised.
                BinaryPrimitives.WriteInt16BigEndian(payload, (short)random.Next(0, 70));
                BinaryPrimitives.WriteInt16BigEndian(payload.AsSpan(2), (short)random.Next(0, 13));
            }

            var frame = new byte[4 + payload.Length];
            BinaryPrimitives.WriteInt32BigEndian(frame, payload.Length);
            payload.CopyTo(frame, 4);
            await client.Stream.WriteAsync(frame);
        }

        await AssertBrokerServesAsync();
    }

    [Fact]
    public async Task UnknownApiKey_ClosesTheConnection()
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var frame = new byte[4 + 10];
        BinaryPrimitives.WriteInt32BigEndian(frame, 10);
        BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(4), 999);
        await client.Stream.WriteAsync(frame);
        Assert.True(await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task ApiVersionsNewerThanSupported_GetsVersion0UnsupportedVersionWithOurRanges()
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var id = await client.SendAsync(ApiKey.ApiVersions, 99, (ref KafkaWriter w) => new ApiVersionsRequest { ClientSoftwareName = "x", ClientSoftwareVersion = "1" }.Write(ref w, 4));
        var body = await client.ReceiveAsync(ApiKey.ApiVersions, 0, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        var response = ApiVersionsResponse.Read(ref reader, 0);
        Assert.Equal((short)KafkaErrorCode.UnsupportedVersion, response.ErrorCode);
        var produce = Assert.Single(response.ApiKeys, k => k.ApiKey == (short)ApiKey.Produce);
        Assert.Equal(11, produce.MaxVersion);
        Assert.Contains(response.ApiKeys, k => k.ApiKey == (short)ApiKey.ApiVersions && k.MaxVersion == 4);
    }

    [Fact]
    public async Task MetadataAtAnUnsupportedVersion_ClosesTheConnection()
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        await client.SendAsync(ApiKey.Metadata, 13, (ref KafkaWriter w) => new MetadataRequest().Write(ref w, 12));
        Assert.True(await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Produce_WithWrongCrc_ReturnsCorruptMessageAndWritesNothing()
    {
        await CreateTopicAsync("crc");
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData("k"u8.ToArray(), "value"u8.ToArray(), 1_700_000_000_000)]);
        batch[^1] ^= 0x55;

        var response = await ProduceRawAsync("crc", batch);
        var partition = Assert.Single(Assert.Single(response.Responses).PartitionResponses);
        Assert.Equal((short)KafkaErrorCode.CorruptMessage, partition.ErrorCode);
        Assert.Equal(0, HighWatermark("crc"));

        // A valid batch after the bad one lands at offset 0: nothing partial was written.
        var good = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData("k"u8.ToArray(), "value"u8.ToArray(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())]);
        var ok = Assert.Single(Assert.Single((await ProduceRawAsync("crc", good)).Responses).PartitionResponses);
        Assert.Equal((short)KafkaErrorCode.None, ok.ErrorCode);
        Assert.Equal(0, ok.BaseOffset);
    }

    [Fact]
    public async Task Produce_TruncatedBatch_ReturnsCorruptMessage()
    {
        await CreateTopicAsync("truncated");
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, new byte[100], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())]);
        var partition = Assert.Single(Assert.Single((await ProduceRawAsync("truncated", batch[..^10])).Responses).PartitionResponses);
        Assert.Equal((short)KafkaErrorCode.CorruptMessage, partition.ErrorCode);
        Assert.Equal(0, HighWatermark("truncated"));
    }

    [Fact]
    public async Task Produce_LargerThanMaxMessageBytes_ReturnsMessageTooLarge()
    {
        await CreateTopicAsync("small", new Dictionary<string, string> { ["max.message.bytes"] = "1000" });
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, new byte[5000], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())]);
        var partition = Assert.Single(Assert.Single((await ProduceRawAsync("small", batch)).Responses).PartitionResponses);
        Assert.Equal((short)KafkaErrorCode.MessageTooLarge, partition.ErrorCode);
    }

    [Fact]
    public async Task Produce_ToUnknownPartition_ReturnsUnknownTopicOrPartition()
    {
        await CreateTopicAsync("one-partition");
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, new byte[10], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())]);
        var partition = Assert.Single(Assert.Single((await ProduceRawAsync("one-partition", batch, partitionIndex: 5)).Responses).PartitionResponses);
        Assert.Equal((short)KafkaErrorCode.UnknownTopicOrPartition, partition.ErrorCode);
    }

    private async Task<ProduceResponse> ProduceRawAsync(string topic, byte[] records, int partitionIndex = 0)
    {
        const short version = 9;
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var request = new ProduceRequest { Acks = -1, TimeoutMs = 10_000 };
        var topicData = new ProduceRequest.TopicProduceData { Name = topic };
        topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = partitionIndex, Records = records });
        request.TopicData.Add(topicData);
        var id = await client.SendAsync(ApiKey.Produce, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.Produce, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return ProduceResponse.Read(ref reader, version);
    }

    private long HighWatermark(string topic)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = _broker.BootstrapServers, GroupId = "levee-tests" }).Build();
        return consumer.QueryWatermarkOffsets(new Confluent.Kafka.TopicPartition(topic, 0), TimeSpan.FromSeconds(10)).High.Value;
    }

    private async Task CreateTopicAsync(string topic, Dictionary<string, string>? configs = null)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new Confluent.Kafka.Admin.TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1, Configs = configs }]);
    }

    private async Task AssertBrokerServesAsync()
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        Assert.Single(metadata.Brokers);
        await Task.CompletedTask;
    }
}
