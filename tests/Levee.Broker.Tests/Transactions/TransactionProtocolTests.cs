using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Broker.Tests.Producers;
using Levee.Protocol;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Transactions;

/// <summary>The transaction coordinator's answers over the wire, as Kafka gives them, and its state across a restart.</summary>
public sealed class TransactionProtocolTests : IAsyncLifetime
{
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task InitProducerId_WithATransactionalId_BumpsTheEpochEachTime_AnswersARetryAgain_AndFencesAnOlderEpoch()
    {
        var first = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "init");
        var second = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "init");
        var bumped = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "init", producerId: second.ProducerId, epoch: second.ProducerEpoch);

        // KIP-360: the request of a producer that held epoch 1 and lost the answer is answered again ...
        var retry = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "init", producerId: second.ProducerId, epoch: second.ProducerEpoch);

        // ... and one holding epoch 0 is a zombie: fenced (INVALID_PRODUCER_EPOCH before v4).
        var staleV4 = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "init", producerId: first.ProducerId, epoch: 0);
        var staleV3 = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "init", producerId: first.ProducerId, epoch: 0, version: 3);

        Assert.Equal(((short)KafkaErrorCode.None, (short)0), (first.ErrorCode, first.ProducerEpoch));
        Assert.Equal(((short)KafkaErrorCode.None, first.ProducerId, (short)1), (second.ErrorCode, second.ProducerId, second.ProducerEpoch));
        Assert.Equal(((short)KafkaErrorCode.None, first.ProducerId, (short)2), (bumped.ErrorCode, bumped.ProducerId, bumped.ProducerEpoch));
        Assert.Equal(((short)KafkaErrorCode.None, first.ProducerId, (short)2), (retry.ErrorCode, retry.ProducerId, retry.ProducerEpoch));
        Assert.Equal((short)KafkaErrorCode.ProducerFenced, staleV4.ErrorCode);
        Assert.Equal((short)KafkaErrorCode.InvalidProducerEpoch, staleV3.ErrorCode);
    }

    [Fact]
    public async Task InitProducerId_WithATimeoutAboveTheMaximum_IsInvalidTransactionTimeout()
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var response = await SendAsync<InitProducerIdResponse>(client, ApiKey.InitProducerId, 4, new InitProducerIdRequest { TransactionalId = "too-long", TransactionTimeoutMs = 900_001, ProducerId = -1, ProducerEpoch = -1 }.Write, InitProducerIdResponse.Read);
        Assert.Equal((short)KafkaErrorCode.InvalidTransactionTimeout, response.ErrorCode);
    }

    [Fact]
    public async Task AddPartitionsToTxn_WithAnUnknownPartition_AddsNothing_AndTheOthersAreNotAttempted()
    {
        await CreateTopicAsync("known");
        var init = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "add");
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);

        var response = await AddPartitionsAsync(client, "add", init.ProducerId, init.ProducerEpoch, ("known", 0), ("unknown", 0));
        var wrongId = await AddPartitionsAsync(client, "add", init.ProducerId + 1, init.ProducerEpoch, ("known", 0));
        var oldEpoch = await AddPartitionsAsync(client, "add", init.ProducerId, (short)(init.ProducerEpoch - 1), ("known", 0));
        var described = await RawTransactions.DescribeAsync(_broker.BootstrapServers, "add");

        Assert.Equal((short)KafkaErrorCode.OperationNotAttempted, Error(response, "known"));
        Assert.Equal((short)KafkaErrorCode.UnknownTopicOrPartition, Error(response, "unknown"));
        Assert.Equal((short)KafkaErrorCode.InvalidProducerIdMapping, Error(wrongId, "known"));
        Assert.Equal((short)KafkaErrorCode.ProducerFenced, Error(oldEpoch, "known"));
        Assert.Equal(("Empty", 0), (described.TransactionState, described.Topics.Count));
    }

    [Fact]
    public async Task EndTxn_WithoutATransaction_IsInvalidTxnState_AndAfterItCompletes_ARetryIsAnsweredAgain()
    {
        await CreateTopicAsync("end");
        var init = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "end");
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);

        var empty = await EndAsync(client, "end", init.ProducerId, init.ProducerEpoch, commit: true);
        Assert.Equal((short)KafkaErrorCode.None, Error(await AddPartitionsAsync(client, "end", init.ProducerId, init.ProducerEpoch, ("end", 0)), "end"));
        var commit = await EndAsync(client, "end", init.ProducerId, init.ProducerEpoch, commit: true);
        await RawTransactions.WaitForStateAsync(_broker.BootstrapServers, "end", "CompleteCommit", TimeSpan.FromSeconds(10));
        var retry = await EndAsync(client, "end", init.ProducerId, init.ProducerEpoch, commit: true);
        var opposite = await EndAsync(client, "end", init.ProducerId, init.ProducerEpoch, commit: false);

        Assert.Equal((short)KafkaErrorCode.InvalidTxnState, empty);
        Assert.Equal((short)KafkaErrorCode.None, commit);
        Assert.Equal((short)KafkaErrorCode.None, retry);
        Assert.Equal((short)KafkaErrorCode.InvalidTxnState, opposite);

        // The marker is in the partition: a control batch at offset 0 (no data was written), and the LSO past it.
        Assert.True(_broker.Broker.Replicas.TryGetPartition("end", 0, out var partition));
        Assert.Equal(1, partition.Log.LastStableOffset);
    }

    [Fact]
    public async Task OpenTransaction_SurvivesARestart_AndIsCommittedAfterIt()
    {
        await CreateTopicAsync("restart");
        var init = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "restart");
        using (var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers))
        {
            Assert.Equal((short)KafkaErrorCode.None, Error(await AddPartitionsAsync(client, "restart", init.ProducerId, init.ProducerEpoch, ("restart", 0)), "restart"));
        }

        var batch = RawProducer.Batch(init.ProducerId, init.ProducerEpoch, 0, "a", "b", "c");
        TransactionalFlag(batch);
        Assert.Equal((short)KafkaErrorCode.None, (await RawProducer.ProduceAsync(_broker.BootstrapServers, "restart", batch, transactionalId: "restart")).ErrorCode);

        await _broker.RestartAsync();

        Assert.True(_broker.Broker.Replicas.TryGetPartition("restart", 0, out var partition));
        Assert.Equal((0L, 3L), (partition.Log.LastStableOffset, partition.Log.HighWatermark));
        var described = await RawTransactions.WaitForStateAsync(_broker.BootstrapServers, "restart", "Ongoing", TimeSpan.FromSeconds(10));
        Assert.Equal(("Ongoing", init.ProducerId), (described.TransactionState, described.ProducerId));
        using (var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers))
        {
            Assert.Equal((short)KafkaErrorCode.None, await EndAsync(client, "restart", init.ProducerId, init.ProducerEpoch, commit: true));
        }

        await RawTransactions.WaitForStateAsync(_broker.BootstrapServers, "restart", "CompleteCommit", TimeSpan.FromSeconds(10));
        Assert.Equal(4, partition.Log.LastStableOffset);
    }

    [Fact]
    public async Task TransactionalBatch_ToAPartitionNotInTheTransaction_IsRefused_AndOpensNoTransaction()
    {
        await CreateTopicAsync("stray");
        var init = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "stray");
        var batch = RawProducer.Batch(init.ProducerId, init.ProducerEpoch, 0, "stray");
        TransactionalFlag(batch);

        // KIP-890: not added with AddPartitionsToTxn, so the coordinator does not have it in a transaction.
        var refused = await RawProducer.ProduceAsync(_broker.BootstrapServers, "stray", batch, transactionalId: "stray");

        Assert.Equal((short)KafkaErrorCode.InvalidTxnState, refused.ErrorCode);
        Assert.True(_broker.Broker.Replicas.TryGetPartition("stray", 0, out var partition));
        Assert.Equal((0L, 0L), (partition.Log.LogEndOffset, partition.Log.LastStableOffset));

        using (var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers))
        {
            Assert.Equal((short)KafkaErrorCode.None, Error(await AddPartitionsAsync(client, "stray", init.ProducerId, init.ProducerEpoch, ("stray", 0)), "stray"));
        }

        var accepted = await RawProducer.ProduceAsync(_broker.BootstrapServers, "stray", batch, transactionalId: "stray");
        Assert.Equal((short)KafkaErrorCode.None, accepted.ErrorCode);
        Assert.Equal((1L, 0L), (partition.Log.LogEndOffset, partition.Log.LastStableOffset));
    }

    [Fact]
    public async Task TxnOffsetCommit_WithoutAddOffsetsToTxn_IsInvalidTxnState_AndWritesNothing()
    {
        await CreateTopicAsync("consumed");
        var init = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, transactionalId: "offsets");
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);

        // KIP-890: the group's __consumer_offsets partition is not in the transaction, so nothing is written there.
        var refused = await client.TxnCommitAsync("offsets", "txn-group", init.ProducerId, init.ProducerEpoch, "consumed", 0, 5);
        Assert.Equal(KafkaErrorCode.InvalidTxnState, refused);
        var index = Levee.Broker.Groups.GroupCoordinator.PartitionFor("txn-group", _broker.Broker.Replicas.Topics.TryGet(Levee.Broker.Groups.GroupCoordinator.OffsetsTopic, out var offsets) ? offsets.PartitionCount : 0);
        Assert.True(_broker.Broker.Replicas.TryGetPartition(Levee.Broker.Groups.GroupCoordinator.OffsetsTopic, index, out var partition));
        Assert.False(partition.Log.HasOpenTransaction(init.ProducerId));

        var added = await SendAsync<AddOffsetsToTxnResponse>(client, ApiKey.AddOffsetsToTxn, 3, new AddOffsetsToTxnRequest { TransactionalId = "offsets", ProducerId = init.ProducerId, ProducerEpoch = init.ProducerEpoch, GroupId = "txn-group" }.Write, AddOffsetsToTxnResponse.Read);
        Assert.Equal((short)KafkaErrorCode.None, added.ErrorCode);
        Assert.Equal(KafkaErrorCode.None, await client.TxnCommitAsync("offsets", "txn-group", init.ProducerId, init.ProducerEpoch, "consumed", 0, 5));
        Assert.True(partition.Log.HasOpenTransaction(init.ProducerId));
        Assert.Equal((short)KafkaErrorCode.None, await EndAsync(client, "offsets", init.ProducerId, init.ProducerEpoch, commit: true));
    }

    /// <summary>Sets the transactional attribute of a built batch (bit 4, inside the CRC: recomputed).</summary>
    private static void TransactionalFlag(byte[] batch)
    {
        var attributes = System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(batch.AsSpan(Levee.Protocol.Records.RecordBatchHeader.AttributesPosition));
        System.Buffers.Binary.BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(Levee.Protocol.Records.RecordBatchHeader.AttributesPosition), (short)(attributes | 0x10));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(batch.AsSpan(Levee.Protocol.Records.RecordBatchHeader.CrcPosition), Levee.Protocol.Records.Crc32C.Compute(batch.AsSpan(Levee.Protocol.Records.RecordBatchHeader.CrcCoveredStart)));
    }

    private static short Error(AddPartitionsToTxnResponse response, string topic) =>
        response.ResultsByTopicV3AndBelow.Single(t => t.Name == topic).ResultsByPartition.Single().PartitionErrorCode;

    private static Task<AddPartitionsToTxnResponse> AddPartitionsAsync(RawKafkaClient client, string transactionalId, long producerId, short epoch, params (string Topic, int Partition)[] partitions)
    {
        var request = new AddPartitionsToTxnRequest { V3AndBelowTransactionalId = transactionalId, V3AndBelowProducerId = producerId, V3AndBelowProducerEpoch = epoch };
        foreach (var topic in partitions.GroupBy(p => p.Topic))
        {
            request.V3AndBelowTopics.Add(new AddPartitionsToTxnRequest.AddPartitionsToTxnTopic { Name = topic.Key, Partitions = [.. topic.Select(p => p.Partition)] });
        }

        return SendAsync<AddPartitionsToTxnResponse>(client, ApiKey.AddPartitionsToTxn, 3, request.Write, AddPartitionsToTxnResponse.Read);
    }

    private static async Task<short> EndAsync(RawKafkaClient client, string transactionalId, long producerId, short epoch, bool commit) =>
        (await SendAsync<EndTxnResponse>(client, ApiKey.EndTxn, 3, new EndTxnRequest { TransactionalId = transactionalId, ProducerId = producerId, ProducerEpoch = epoch, Committed = commit }.Write, EndTxnResponse.Read)).ErrorCode;

    private delegate void Writer(ref KafkaWriter writer, short version);

    private delegate T Reader<out T>(ref KafkaReader reader, short version);

    private static async Task<T> SendAsync<T>(RawKafkaClient client, ApiKey key, short version, Writer write, Reader<T> read)
    {
        var id = await client.SendAsync(key, version, (ref KafkaWriter w) => write(ref w, version));
        var body = await client.ReceiveAsync(key, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return read(ref reader, version);
    }

    private async Task CreateTopicAsync(string topic)
    {
        using var admin = new Confluent.Kafka.AdminClientBuilder(new Confluent.Kafka.AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new Confluent.Kafka.Admin.TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
    }
}
