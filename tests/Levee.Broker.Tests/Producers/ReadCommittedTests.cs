using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Producers;

/// <summary>
/// read_committed Fetch and ListOffsets (KIP-98) against transactional batches produced over the wire and markers
/// written through the partition, as the transaction coordinator will write them.
/// </summary>
public sealed class ReadCommittedTests : IAsyncLifetime
{
    private const short FetchVersion = 12;
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task Fetch_ReadCommitted_StopsAtTheLastStableOffset_AndListsTheAbortedTransactions()
    {
        var partition = await CreateTopicAsync("txn-fetch");
        await ProduceRawAsync("txn-fetch", Transactional(7, "aborted"));  // 0
        await ProduceRawAsync("txn-fetch", Transactional(8, "later"));    // 1: still open
        partition.AppendMarker(7, 0, commit: false, coordinatorEpoch: 0); // 2

        var committed = await FetchAsync("txn-fetch", offset: 0, isolation: 1);
        Assert.Equal((short)KafkaErrorCode.None, committed.ErrorCode);
        Assert.Equal(3, committed.HighWatermark);
        Assert.Equal(1, committed.LastStableOffset);
        Assert.Equal([(0L, 0L)], Batches(committed));
        Assert.Equal([(7L, 0L)], committed.AbortedTransactions!.Select(a => (a.ProducerId, a.FirstOffset)));

        var uncommitted = await FetchAsync("txn-fetch", offset: 0, isolation: 0);
        Assert.Equal(1, uncommitted.LastStableOffset);
        Assert.Equal([(0L, 0L), (1L, 1L), (2L, 2L)], Batches(uncommitted));
        Assert.Null(uncommitted.AbortedTransactions);

        Assert.Equal(1, await ListLatestAsync("txn-fetch", isolation: 1));
        Assert.Equal(3, await ListLatestAsync("txn-fetch", isolation: 0));

        partition.AppendMarker(8, 0, commit: true, coordinatorEpoch: 0); // 3
        var all = await FetchAsync("txn-fetch", offset: 1, isolation: 1);
        Assert.Equal(4, all.LastStableOffset);
        Assert.Equal([(1L, 1L), (2L, 2L), (3L, 3L)], Batches(all));
        Assert.Equal([(7L, 0L)], all.AbortedTransactions!.Select(a => (a.ProducerId, a.FirstOffset))); // its marker is in range
        Assert.Equal(4, await ListLatestAsync("txn-fetch", isolation: 1));

        var past = await FetchAsync("txn-fetch", offset: 3, isolation: 1);
        Assert.Empty(past.AbortedTransactions!);
    }

    [Fact]
    public async Task Fetch_ReadCommittedLongPoll_WaitsForTheLastStableOffset_NotTheLogEnd()
    {
        var partition = await CreateTopicAsync("txn-poll");
        await ProduceRawAsync("txn-poll", Transactional(7, "pending")); // 0: open, so nothing is stable

        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var request = FetchRequestFor("txn-poll", offset: 0, isolation: 1, maxWaitMs: 30_000, minBytes: 1);
        var id = await client.SendAsync(ApiKey.Fetch, FetchVersion, (ref KafkaWriter w) => request.Write(ref w, FetchVersion));
        var pending = client.ReceiveAsync(ApiKey.Fetch, FetchVersion, id);

        // Data exists above the last stable offset: the poll keeps waiting until the commit (an early answer would
        // carry no records, which the assertions below refuse).
        Assert.False(pending.IsCompleted);
        partition.AppendMarker(7, 0, commit: true, coordinatorEpoch: 0);

        var body = await pending.WaitAsync(TimeSpan.FromSeconds(20));
        var reader = new KafkaReader(body!);
        var data = FetchResponse.Read(ref reader, FetchVersion).Responses[0].Partitions[0];
        Assert.Equal(2, data.LastStableOffset);
        Assert.Equal([(0L, 0L), (1L, 1L)], Batches(data));
    }

    [Fact]
    public async Task Consumer_ReadCommitted_SkipsAnAbortedTransaction()
    {
        var partition = await CreateTopicAsync("txn-client");
        await ProduceRawAsync("txn-client", Transactional(7, "dropped"));
        partition.AppendMarker(7, 0, commit: false, coordinatorEpoch: 0);
        await ProduceRawAsync("txn-client", Transactional(7, "kept", sequence: 1));
        partition.AppendMarker(7, 0, commit: true, coordinatorEpoch: 0);

        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            GroupId = "txn-readers",
            IsolationLevel = IsolationLevel.ReadCommitted,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Assign(new TopicPartitionOffset("txn-client", 0, 0));
        var first = consumer.Consume(TimeSpan.FromSeconds(10));
        Assert.NotNull(first);
        Assert.Equal(("kept", 2L), (first.Message.Value, first.Offset.Value));
    }

    private static byte[] Transactional(long producerId, string value, int sequence = 0) =>
        RecordBatchBuilder.BuildToArray(
            new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = 0, BaseSequence = sequence, IsTransactional = true },
            [new RecordData(null, Encoding.UTF8.GetBytes(value), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())]);

    private static List<(long Base, long Last)> Batches(FetchResponse.PartitionData data)
    {
        var result = new List<(long, long)>();
        var bytes = data.Records?.ToArray() ?? [];
        var at = 0;
        while (at < bytes.Length)
        {
            var header = new RecordBatchHeader(bytes.AsSpan(at));
            result.Add((header.BaseOffset, header.LastOffset));
            at += header.TotalSize;
        }

        return result;
    }

    private async Task<Levee.Broker.Partitions.Partition> CreateTopicAsync(string topic)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
        Levee.Broker.Partitions.Partition? partition = null;
        Assert.True(SpinWait.SpinUntil(() => _broker.Broker.Replicas.TryGetPartition(topic, 0, out partition) && partition.IsLeader, TimeSpan.FromSeconds(10)));
        return partition!;
    }

    private FetchRequest FetchRequestFor(string topic, long offset, sbyte isolation, int maxWaitMs, int minBytes)
    {
        Assert.True(_broker.Broker.Replicas.Topics.TryGet(topic, out var info));
        var request = new FetchRequest { MaxWaitMs = maxWaitMs, MinBytes = minBytes, MaxBytes = 1 << 20, SessionEpoch = -1, IsolationLevel = isolation };
        var fetchTopic = new FetchRequest.FetchTopic { Topic = topic, TopicId = info.TopicId };
        fetchTopic.Partitions.Add(new FetchRequest.FetchPartition { Partition = 0, FetchOffset = offset, PartitionMaxBytes = 1 << 20 });
        request.Topics.Add(fetchTopic);
        return request;
    }

    private async Task<FetchResponse.PartitionData> FetchAsync(string topic, long offset, sbyte isolation)
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var request = FetchRequestFor(topic, offset, isolation, maxWaitMs: 0, minBytes: 0);
        var id = await client.SendAsync(ApiKey.Fetch, FetchVersion, (ref KafkaWriter w) => request.Write(ref w, FetchVersion));
        var body = await client.ReceiveAsync(ApiKey.Fetch, FetchVersion, id);
        var reader = new KafkaReader(body!);
        return FetchResponse.Read(ref reader, FetchVersion).Responses[0].Partitions[0];
    }

    private async Task<long> ListLatestAsync(string topic, sbyte isolation)
    {
        const short version = 7;
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var request = new ListOffsetsRequest { ReplicaId = -1, IsolationLevel = isolation };
        request.Topics.Add(new ListOffsetsRequest.ListOffsetsTopic { Name = topic, Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = 0, Timestamp = -1 }] });
        var id = await client.SendAsync(ApiKey.ListOffsets, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.ListOffsets, version, id);
        var reader = new KafkaReader(body!);
        var partition = ListOffsetsResponse.Read(ref reader, version).Topics[0].Partitions[0];
        Assert.Equal((short)KafkaErrorCode.None, partition.ErrorCode);
        return partition.Offset;
    }

    private async Task ProduceRawAsync(string topic, byte[] batch)
    {
        const short version = 9;
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        // No transactional id: these producers have no coordinator (the markers are appended directly), and the leader
        // verifies with the coordinator (KIP-890) only a request that names one, as Kafka's does.
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
