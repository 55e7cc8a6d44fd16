using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;

namespace Levee.Broker.Tests.Producers;

/// <summary>An idempotent producer written by hand: InitProducerId and Produce with exactly chosen ids, epochs and sequences.</summary>
internal static class RawProducer
{
    public static async Task<InitProducerIdResponse> InitProducerIdAsync(string bootstrap, string? transactionalId = null, long producerId = -1, short epoch = -1, short version = 4)
    {
        using var client = await RawKafkaClient.ConnectAsync(bootstrap);
        var request = new InitProducerIdRequest { TransactionalId = transactionalId, TransactionTimeoutMs = 60_000, ProducerId = producerId, ProducerEpoch = epoch };
        var id = await client.SendAsync(ApiKey.InitProducerId, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.InitProducerId, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return InitProducerIdResponse.Read(ref reader, version);
    }

    public static byte[] Batch(long producerId, short epoch, int baseSequence, params string[] values)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var records = values.Select(v => new RecordData(null, System.Text.Encoding.UTF8.GetBytes(v), now)).ToArray();
        return RecordBatchBuilder.BuildToArray(new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = epoch, BaseSequence = baseSequence }, records);
    }

    public static async Task<ProduceResponse.PartitionProduceResponse> ProduceAsync(string bootstrap, string topic, byte[] records, int partition = 0, string? transactionalId = null)
    {
        const short version = 9;
        using var client = await RawKafkaClient.ConnectAsync(bootstrap);
        var request = new ProduceRequest { Acks = -1, TimeoutMs = 10_000, TransactionalId = transactionalId };
        var topicData = new ProduceRequest.TopicProduceData { Name = topic };
        topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = partition, Records = records });
        request.TopicData.Add(topicData);
        var id = await client.SendAsync(ApiKey.Produce, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.Produce, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return Assert.Single(Assert.Single(ProduceResponse.Read(ref reader, version).Responses).PartitionResponses);
    }

    public static async Task<DescribeProducersResponse.PartitionResponse> DescribeProducersAsync(string bootstrap, string topic, int partition = 0)
    {
        const short version = 0;
        using var client = await RawKafkaClient.ConnectAsync(bootstrap);
        var request = new DescribeProducersRequest();
        request.Topics.Add(new DescribeProducersRequest.TopicRequest { Name = topic, PartitionIndexes = [partition] });
        var id = await client.SendAsync(ApiKey.DescribeProducers, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.DescribeProducers, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return Assert.Single(Assert.Single(DescribeProducersResponse.Read(ref reader, version).Topics).Partitions);
    }
}
