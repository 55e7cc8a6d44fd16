using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests.Transactions;

/// <summary>
/// Transactions (KIP-98) with Confluent.Kafka (librdkafka): what read_committed and read_uncommitted consumers see
/// of committed, aborted and open transactions, zombie fencing, and the abort of a transaction past its timeout.
/// </summary>
public sealed class TransactionClientTests : IAsyncLifetime
{
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync(o => o with { TransactionAbortTimedOutCleanupIntervalMs = 100 });

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task CommittedRecords_AreReadCommitted_AbortedOnesOnlyReadUncommitted()
    {
        const string topic = "txn-visibility";
        await CreateTopicAsync(topic, 3);
        using (var producer = TransactionalProducer("visibility"))
        {
            producer.InitTransactions(TimeSpan.FromSeconds(30));
            ProduceInTransaction(producer, topic, "committed-a", 30, commit: true);
            ProduceInTransaction(producer, topic, "aborted", 30, commit: false);
            ProduceInTransaction(producer, topic, "committed-b", 30, commit: true);
        }

        var committed = ReadAll(topic, IsolationLevel.ReadCommitted, 60);
        var uncommitted = ReadAll(topic, IsolationLevel.ReadUncommitted, 90);

        Assert.Equal(
            Values("committed-a", 30).Concat(Values("committed-b", 30)).Order(),
            committed.Order());
        Assert.Equal(
            Values("committed-a", 30).Concat(Values("aborted", 30)).Concat(Values("committed-b", 30)).Order(),
            uncommitted.Order());
    }

    [Fact]
    public async Task OpenTransaction_HoldsTheLastStableOffsetBack_UntilItCommits()
    {
        const string topic = "txn-lso";
        await CreateTopicAsync(topic, 1);
        using var producer = TransactionalProducer("lso");
        producer.InitTransactions(TimeSpan.FromSeconds(30));
        producer.BeginTransaction();
        for (var i = 0; i < 5; i++)
        {
            await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = $"open-{i}" });
        }

        Assert.True(_broker.Broker.Replicas.TryGetPartition(topic, 0, out var partition));
        Assert.Equal(5, partition.Log.HighWatermark);
        Assert.Equal(0, partition.Log.LastStableOffset);
        var described = await RawTransactions.DescribeAsync(_broker.BootstrapServers, "lso");
        Assert.Equal(("Ongoing", topic), (described.TransactionState, Assert.Single(described.Topics).Topic));
        Assert.Contains((await RawTransactions.ListAsync(_broker.BootstrapServers, ["Ongoing"])).TransactionStates, t => t.TransactionalId == "lso");

        producer.CommitTransaction(TimeSpan.FromSeconds(30));

        // The marker follows the commit: the LSO passes it, and read_committed sees the records.
        Assert.Equal(Values("open", 5), ReadAll(topic, IsolationLevel.ReadCommitted, 5));
        Assert.Equal(6, partition.Log.LastStableOffset);
        Assert.Equal("CompleteCommit", (await RawTransactions.WaitForStateAsync(_broker.BootstrapServers, "lso", "CompleteCommit", TimeSpan.FromSeconds(10))).TransactionState);
    }

    [Fact]
    public async Task ZombieProducer_IsFencedByANewInstance_AndItsOpenTransactionAborted()
    {
        const string topic = "txn-zombie";
        await CreateTopicAsync(topic, 1);
        using var zombie = TransactionalProducer("zombie");
        zombie.InitTransactions(TimeSpan.FromSeconds(30));
        zombie.BeginTransaction();
        await zombie.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "zombie" });

        using var successor = TransactionalProducer("zombie");
        successor.InitTransactions(TimeSpan.FromSeconds(30));
        ProduceInTransaction(successor, topic, "successor", 3, commit: true);

        var fenced = Assert.Throws<KafkaException>(() => zombie.CommitTransaction(TimeSpan.FromSeconds(30)));
        Assert.True(fenced.Error.IsFatal || fenced.Error.Code == ErrorCode.ProducerFenced || fenced.Error.Code == ErrorCode.InvalidProducerEpoch, fenced.Error.ToString());
        Assert.Equal(Values("successor", 3), ReadAll(topic, IsolationLevel.ReadCommitted, 3));
    }

    [Fact]
    public async Task TransactionOpenLongerThanItsTimeout_IsAborted_AndItsProducerFenced()
    {
        const string topic = "txn-timeout";
        await CreateTopicAsync(topic, 1);
        using var producer = TransactionalProducer("timeout", transactionTimeoutMs: 1000);
        producer.InitTransactions(TimeSpan.FromSeconds(30));
        producer.BeginTransaction();
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "late" });

        var described = await RawTransactions.WaitForStateAsync(_broker.BootstrapServers, "timeout", "CompleteAbort", TimeSpan.FromSeconds(30));

        Assert.Equal("CompleteAbort", described.TransactionState);
        Assert.Throws<KafkaException>(() => producer.CommitTransaction(TimeSpan.FromSeconds(30)));
        Assert.True(_broker.Broker.Replicas.TryGetPartition(topic, 0, out var partition));
        Assert.Equal(partition.Log.HighWatermark, partition.Log.LastStableOffset);
        Assert.Empty(ReadAll(topic, IsolationLevel.ReadCommitted, 0));
    }

    [Fact]
    public async Task ConsumeTransformProduce_WithAbortsAndRewinds_WritesEachInputOnce_AndCommitsTheGroupsOffsetsWithIt()
    {
        const int count = 300;
        await CreateTopicAsync("eos-in", 2);
        await CreateTopicAsync("eos-out", 2);
        using (var plain = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = _broker.BootstrapServers }).Build())
        {
            foreach (var value in Values("in", count))
            {
                plain.Produce("eos-in", new Message<string, string> { Key = value, Value = value });
            }

            plain.Flush(TimeSpan.FromSeconds(30));
        }

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            GroupId = "eos-group",
            IsolationLevel = IsolationLevel.ReadCommitted,
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        using var producer = TransactionalProducer("eos");
        producer.InitTransactions(TimeSpan.FromSeconds(30));
        consumer.Subscribe("eos-in");
        var transactions = 0;
        var processed = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (processed < count && DateTime.UtcNow < deadline)
        {
            var batch = new List<ConsumeResult<string, string>>();
            while (batch.Count < 25 && consumer.Consume(TimeSpan.FromMilliseconds(batch.Count == 0 ? 500 : 50)) is { } result)
            {
                batch.Add(result);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            producer.BeginTransaction();
            foreach (var record in batch)
            {
                producer.Produce("eos-out", new Message<string, string> { Key = record.Message.Key, Value = "out-" + record.Message.Value });
            }

            var positions = batch.GroupBy(r => r.TopicPartition).Select(g => new TopicPartitionOffset(g.Key, g.Max(r => r.Offset.Value) + 1));
            producer.SendOffsetsToTransaction(positions, consumer.ConsumerGroupMetadata, TimeSpan.FromSeconds(30));
            if (++transactions % 3 == 0)
            {
                // Abort every third transaction and rewind to the group's committed offsets, as a failed step would.
                producer.AbortTransaction(TimeSpan.FromSeconds(30));
                foreach (var committed in consumer.Committed(consumer.Assignment, TimeSpan.FromSeconds(30)))
                {
                    consumer.Seek(committed.Offset == Offset.Unset ? new TopicPartitionOffset(committed.TopicPartition, Offset.Beginning) : committed);
                }
            }
            else
            {
                producer.CommitTransaction(TimeSpan.FromSeconds(30));
                processed += batch.Count;
            }
        }

        Assert.Equal(count, processed);
        var output = ReadAll("eos-out", IsolationLevel.ReadCommitted, count);
        Assert.Equal(Values("in", count).Select(v => "out-" + v).Order(), output.Order());

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        var offsets = (await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions("eos-group", null)])).Single().Partitions;
        Assert.Equal(count, offsets.Where(o => o.Topic == "eos-in").Sum(o => o.Offset.Value));
    }

    private IProducer<string, string> TransactionalProducer(string transactionalId, int transactionTimeoutMs = 60_000) =>
        new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            TransactionalId = transactionalId,
            TransactionTimeoutMs = transactionTimeoutMs,
            LingerMs = 1,
        }).Build();

    private static void ProduceInTransaction(IProducer<string, string> producer, string topic, string prefix, int count, bool commit)
    {
        producer.BeginTransaction();
        foreach (var value in Values(prefix, count))
        {
            producer.Produce(topic, new Message<string, string> { Key = value, Value = value });
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        if (commit)
        {
            producer.CommitTransaction(TimeSpan.FromSeconds(30));
        }
        else
        {
            producer.AbortTransaction(TimeSpan.FromSeconds(30));
        }
    }

    private static IEnumerable<string> Values(string prefix, int count) => Enumerable.Range(0, count).Select(i => $"{prefix}-{i}");

    /// <summary>Reads every partition of <paramref name="topic"/> from the start until <paramref name="expected"/> records came, then until the end of every partition.</summary>
    private List<string> ReadAll(string topic, IsolationLevel isolation, int expected)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            GroupId = $"reader-{Guid.NewGuid():N}",
            IsolationLevel = isolation,
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnablePartitionEof = true,
        }).Build();
        var partitions = _broker.Broker.Replicas.Topics.TryGet(topic, out var info) ? info.PartitionCount : 0;
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var values = new List<string>();
        var atEnd = new HashSet<int>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline && (values.Count < expected || atEnd.Count < partitions))
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is null)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                atEnd.Add(result.Partition.Value);
                continue;
            }

            atEnd.Remove(result.Partition.Value);
            values.Add(result.Message.Value);
        }

        return values;
    }

    private async Task CreateTopicAsync(string topic, int partitions)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]);
    }
}
