using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Records;
using ClientCodec = Confluent.Kafka.CompressionType;
using ClientTimestampType = Confluent.Kafka.TimestampType;
using Codec = Levee.Protocol.Records.CompressionType;
using KafkaErrorCode = Confluent.Kafka.ErrorCode;

namespace Levee.Broker.Tests.Producers;

/// <summary>
/// Topic compression.type other than producer: the leader stores each produced batch with the topic's codec, as Kafka's
/// LogValidator does, keeping records, producer fields and the transactional flag; a batch already in that codec is
/// stored as produced. Checked in the segment files and with Confluent.Kafka consumers.
/// </summary>
public sealed class TopicCompressionTests : IAsyncLifetime
{
    private static readonly ClientCodec[] ProducerCodecs = [ClientCodec.None, ClientCodec.Gzip, ClientCodec.Snappy, ClientCodec.Lz4, ClientCodec.Zstd];

    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Theory]
    [InlineData("uncompressed", Codec.None)]
    [InlineData("gzip", Codec.Gzip)]
    [InlineData("snappy", Codec.Snappy)]
    [InlineData("lz4", Codec.Lz4)]
    [InlineData("zstd", Codec.Zstd)]
    public async Task BatchesFromProducersOfEveryCodec_AreStoredWithTheTopicsCodec_AndReadBackIntact(string compressionType, Codec stored)
    {
        const int perProducer = 40;
        var topic = "stored-" + compressionType;
        await CreateTopicAsync(topic, new() { ["compression.type"] = compressionType });
        var sent = new List<Message<byte[], byte[]>>();
        foreach (var codec in ProducerCodecs)
        {
            var messages = Messages(codec.ToString(), perProducer);
            Produce(topic, codec, messages);
            sent.AddRange(messages);
        }

        var batches = StoredBatches(topic);
        Assert.Equal(sent.Count, batches.Sum(b => b.RecordCount));
        Assert.All(batches, b => Assert.Equal(stored, b.Compression));
        AssertSameRecords(sent, Consume(topic, sent.Count));
    }

    [Fact]
    public async Task BatchInTheTopicsCodec_IsStoredAsProduced()
    {
        await CreateTopicAsync("as-produced", new() { ["compression.type"] = "lz4" });
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions { Compression = Codec.Lz4 }, Records(20));

        var answer = await RawProducer.ProduceAsync(_broker.BootstrapServers, "as-produced", batch);

        Assert.Equal((short)0, answer.ErrorCode);
        var segment = SegmentBytes("as-produced");
        Assert.Equal(batch.Length, segment.Length);
        // Everything but the base offset and leader epoch, which the leader stamps outside the CRC.
        Assert.Equal(batch[RecordBatchHeader.MagicPosition..], segment[RecordBatchHeader.MagicPosition..]);
    }

    [Fact]
    public async Task IdempotentRetryOfARecompressedBatch_IsAnsweredAsTheDuplicate_AndStoredOnce()
    {
        await CreateTopicAsync("retried", new() { ["compression.type"] = "zstd" });
        var producer = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers);
        var first = RecordBatchBuilder.BuildToArray(new RecordBatchOptions { ProducerId = producer.ProducerId, ProducerEpoch = producer.ProducerEpoch, BaseSequence = 0, Compression = Codec.Gzip }, Records(10));
        var second = RecordBatchBuilder.BuildToArray(new RecordBatchOptions { ProducerId = producer.ProducerId, ProducerEpoch = producer.ProducerEpoch, BaseSequence = 10 }, Records(5));

        var answers = new List<(short Error, long BaseOffset)>();
        foreach (var batch in new[] { first, first, second, first, second })
        {
            var answer = await RawProducer.ProduceAsync(_broker.BootstrapServers, "retried", (byte[])batch.Clone());
            answers.Add((answer.ErrorCode, answer.BaseOffset));
        }

        Assert.Equal(new (short, long)[] { (0, 0), (0, 0), (0, 10), (0, 0), (0, 10) }, answers);
        var batches = StoredBatches("retried");
        Assert.Equal(
            new[] { (Codec.Zstd, producer.ProducerId, 0, 10), (Codec.Zstd, producer.ProducerId, 10, 5) },
            batches.Select(b => (b.Compression, b.ProducerId, b.BaseSequence, b.RecordCount)));
        var described = Assert.Single((await RawProducer.DescribeProducersAsync(_broker.BootstrapServers, "retried")).ActiveProducers);
        Assert.Equal(14, described.LastSequence);
    }

    [Fact]
    public async Task IdempotentProducerWhoseAcknowledgementsAreLost_RetriesRecompressedBatches_AndEachRecordIsStoredOnce()
    {
        const int count = 3_000;
        await CreateTopicAsync("lost-acks-zstd", new() { ["compression.type"] = "zstd" });
        await using var proxy = new ProduceFaultProxy(_broker.BootstrapServers) { ShouldCut = n => n is 3 or 10 or 25 };
        using (var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig
        {
            BootstrapServers = proxy.BootstrapServers,
            EnableIdempotence = true,
            CompressionType = ClientCodec.Lz4,
            LingerMs = 5,
            BatchNumMessages = 100,
            MessageTimeoutMs = 120_000,
        }).Build())
        {
            var errors = 0;
            for (var i = 0; i < count; i++)
            {
                producer.Produce("lost-acks-zstd", new Message<Null, byte[]> { Value = Encoding.UTF8.GetBytes($"record-{i}") }, r =>
                {
                    if (r.Error.IsError)
                    {
                        Interlocked.Increment(ref errors);
                    }
                });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(120)));
            Assert.Equal(0, errors);
        }

        Assert.True(proxy.Cuts >= 1, $"no acknowledgement was lost ({proxy.ProduceRequests} produce requests)");
        Assert.All(StoredBatches("lost-acks-zstd"), b => Assert.Equal(Codec.Zstd, b.Compression));
        var values = Consume("lost-acks-zstd", count).Select(m => Encoding.UTF8.GetString(m.Value)).ToList();
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"record-{i}"), values);
    }

    [Fact]
    public async Task TransactionalBatches_StayTransactional_AndTheirMarkerIsNotRecompressed()
    {
        await CreateTopicAsync("txn-gzip", new() { ["compression.type"] = "gzip" });
        var sent = Messages("txn", 25);
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            TransactionalId = "txn-gzip",
            CompressionType = ClientCodec.Snappy,
            LingerMs = 1,
        }).Build())
        {
            producer.InitTransactions(TimeSpan.FromSeconds(30));
            producer.BeginTransaction();
            foreach (var message in sent)
            {
                producer.Produce("txn-gzip", message);
            }

            producer.Flush(TimeSpan.FromSeconds(30));
            producer.CommitTransaction(TimeSpan.FromSeconds(30));
        }

        var batches = StoredBatches("txn-gzip");
        var marker = batches[^1];
        Assert.True(marker.IsControl);
        Assert.Equal(Codec.None, marker.Compression);
        var data = batches[..^1];
        Assert.NotEmpty(data);
        Assert.All(data, b => Assert.Equal((Codec.Gzip, true, false, marker.ProducerId), (b.Compression, b.IsTransactional, b.IsControl, b.ProducerId)));
        AssertSameRecords(sent, Consume("txn-gzip", 25, IsolationLevel.ReadCommitted));
    }

    [Fact]
    public async Task LogAppendTimeTopic_StampsTheAppendTimeIntoTheRecompressedBatch()
    {
        await CreateTopicAsync("append-time-zstd", new() { ["compression.type"] = "zstd", ["message.timestamp.type"] = "LogAppendTime" });
        var sent = Messages("t", 10);
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Produce("append-time-zstd", ClientCodec.None, sent);
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var batch = Assert.Single(StoredBatches("append-time-zstd"));
        Assert.Equal((Codec.Zstd, true), (batch.Compression, batch.IsLogAppendTime));
        var read = Consume("append-time-zstd", 10);
        Assert.All(read, m => Assert.Equal(ClientTimestampType.LogAppendTime, m.Timestamp.Type));
        Assert.All(read, m => Assert.InRange(m.Timestamp.UnixTimestampMs, before, after));
        Assert.Equal(sent.Select(m => m.Value), read.Select(m => m.Value));
    }

    [Fact]
    public async Task RecompressedBatchOverMaxMessageBytes_IsRefusedWithMessageTooLarge_AndNothingIsWritten()
    {
        await CreateTopicAsync("too-large-uncompressed", new() { ["compression.type"] = "uncompressed", ["max.message.bytes"] = "4000" });
        var value = new string('a', 200);
        var records = Enumerable.Range(0, 100).Select(_ => new RecordData(null, Encoding.UTF8.GetBytes(value), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())).ToArray();
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions { Compression = Codec.Gzip }, records);
        Assert.True(batch.Length < 4000, $"the gzip batch takes {batch.Length} bytes");

        var answer = await RawProducer.ProduceAsync(_broker.BootstrapServers, "too-large-uncompressed", batch);

        Assert.Equal((short)Levee.Protocol.ErrorCode.MessageTooLarge, answer.ErrorCode);
        Assert.Matches(@"^Message batch size is \d+ bytes in append to partition too-large-uncompressed-0 which exceeds the maximum configured size of 4000\.$", answer.ErrorMessage);
        Assert.True(_broker.Broker.Replicas.TryGetPartition("too-large-uncompressed", 0, out var partition));
        Assert.Equal(0, partition.Log.LogEndOffset);
    }

    [Fact]
    public async Task AlteringCompressionType_AppliesToNewBatches_AndOldOnesStayAsStored()
    {
        await CreateTopicAsync("altered-codec", []);
        var before = Messages("before", 10);
        var after = Messages("after", 10);
        Produce("altered-codec", ClientCodec.Lz4, before);
        using var admin = Admin();

        await admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [new ConfigResource { Type = ResourceType.Topic, Name = "altered-codec" }] = [new ConfigEntry { Name = "compression.type", Value = "zstd", IncrementalOperation = AlterConfigOpType.Set }],
        });
        await GroupTestSupport.WaitUntilAsync(
            () => _broker.Broker.Replicas.TryGetPartition("altered-codec", 0, out var p) && p.Policy.Compression == Codec.Zstd,
            TimeSpan.FromSeconds(10),
            () => "the partition has not applied compression.type=zstd");
        Produce("altered-codec", ClientCodec.Lz4, after);

        Assert.Equal(new[] { (Codec.Lz4, 10), (Codec.Zstd, 10) }, StoredBatches("altered-codec").Select(b => (b.Compression, b.RecordCount)));
        AssertSameRecords([.. before, .. after], Consume("altered-codec", 20));
    }

    [Fact]
    public async Task InvalidCompressionConfigs_AreRefusedWithInvalidConfigAndKafkasMessages()
    {
        using var admin = Admin();
        var created = await Assert.ThrowsAsync<CreateTopicsException>(() => admin.CreateTopicsAsync(
            [new TopicSpecification { Name = "bad-codec", NumPartitions = 1, ReplicationFactor = 1, Configs = new() { ["compression.type"] = "zip" } }]));
        var error = Assert.Single(created.Results).Error;
        Assert.Equal(KafkaErrorCode.InvalidConfig, error.Code);
        Assert.Equal("Invalid value zip for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer", error.Reason);

        await CreateTopicAsync("bad-level", []);
        var resource = new ConfigResource { Type = ResourceType.Topic, Name = "bad-level" };
        foreach (var (name, value, message) in new[]
        {
            ("compression.gzip.level", "0", "Value must be between 1 and 9 or equal to -1"),
            ("compression.lz4.level", "18", "Value must be no more than 17"),
            ("compression.zstd.level", "-131073", "Value must be at least -131072"),
            ("compression.zstd.level", "high", "Not a number of type INT"),
        })
        {
            var altered = await Assert.ThrowsAsync<IncrementalAlterConfigsException>(() => admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
            {
                [resource] = [new ConfigEntry { Name = name, Value = value, IncrementalOperation = AlterConfigOpType.Set }],
            }));
            var result = Assert.Single(altered.Results).Error;
            Assert.Equal(KafkaErrorCode.InvalidConfig, result.Code);
            Assert.Equal($"Invalid value {value} for configuration {name}: {message}", result.Reason);
        }
    }

    [Fact]
    public async Task LevelConfigs_AreDescribedWithKafkasDefaults()
    {
        await CreateTopicAsync("levels", new() { ["compression.type"] = "gzip", ["compression.gzip.level"] = "9" });
        using var admin = Admin();

        var entries = Assert.Single(await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Topic, Name = "levels" }])).Entries;

        Assert.Equal(("gzip", "9", "9", "3"), (entries["compression.type"].Value, entries["compression.gzip.level"].Value, entries["compression.lz4.level"].Value, entries["compression.zstd.level"].Value));
        Assert.True(entries["compression.zstd.level"].IsDefault);
        Assert.False(entries["compression.gzip.level"].IsDefault);
    }

    [Fact]
    public async Task BrokerDefaultCompressionType_AppliesToTopicsThatSetNone()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { TopicConfigDefaults = new Dictionary<string, string> { ["compression.type"] = "snappy" } });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "broker-default", NumPartitions = 1, ReplicationFactor = 1 }]);
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, CompressionType = ClientCodec.Gzip, LingerMs = 5 }).Build())
        {
            foreach (var message in Messages("d", 10))
            {
                producer.Produce("broker-default", message);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var entry = Assert.Single(await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Topic, Name = "broker-default" }])).Entries["compression.type"];
        Assert.Equal(("snappy", ConfigSource.StaticBrokerConfig), (entry.Value, entry.Source));
        Assert.All(StoredBatches(broker, "broker-default"), b => Assert.Equal(Codec.Snappy, b.Compression));
    }

    [Fact]
    public async Task Followers_StoreTheLeadersRecompressedBytesAsTheyAre()
    {
        await using var cluster = await TestCluster.StartAsync(2);
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "replicated-zstd", NumPartitions = 1, ReplicationFactor = 2, Configs = new() { ["compression.type"] = "zstd" } }]);
        }

        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, Acks = Acks.All, CompressionType = ClientCodec.Gzip, LingerMs = 5 }).Build())
        {
            foreach (var message in Messages("r", 30))
            {
                producer.Produce("replicated-zstd", message);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var replicas = cluster.Brokers.Select(b => b!.Replicas.TryGetPartition("replicated-zstd", 0, out var p) ? (Broker: b, Partition: p) : default).ToList();
        Assert.All(replicas, r => Assert.NotNull(r.Partition));
        await GroupTestSupport.WaitUntilAsync(
            () => replicas.All(r => r.Partition.Log.LogEndOffset == 30),
            TimeSpan.FromSeconds(10),
            () => "a replica has not all 30 records");
        var segments = replicas.Select(r => ReadShared(Path.Combine(r.Broker.Options.DataDir, "replicated-zstd-0", "00000000000000000000.log"))).ToList();
        Assert.Equal(segments[0], segments[1]);
        Assert.All(StoredBatches(segments[0]), b => Assert.Equal(Codec.Zstd, b.Compression));
    }

    private static RecordData[] Records(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new RecordData(Encoding.UTF8.GetBytes($"k{i}"), Encoding.UTF8.GetBytes($"value-{i}"), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()))];

    /// <summary>Keyed records with headers (one with a null value) and distinct CreateTime timestamps, some earlier than the first.</summary>
    private static List<Message<byte[], byte[]>> Messages(string prefix, int count)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return [.. Enumerable.Range(0, count).Select(i => new Message<byte[], byte[]>
        {
            Key = Encoding.UTF8.GetBytes($"{prefix}-key-{i}"),
            Value = Encoding.UTF8.GetBytes($"{prefix}-value-{i}-" + new string('x', i * 13)),
            Timestamp = new Timestamp(now - 1000 + ((i * 37) % 500), ClientTimestampType.CreateTime),
            Headers = [new Header("n", Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture))), new Header("empty", null)],
        })];
    }

    private void Produce(string topic, ClientCodec codec, List<Message<byte[], byte[]>> messages)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            CompressionType = codec,
            EnableIdempotence = true,
            LingerMs = 5,
        }).Build();
        foreach (var message in messages)
        {
            producer.Produce(topic, message);
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }

    private List<Message<byte[], byte[]>> Consume(string topic, int count, IsolationLevel isolation = IsolationLevel.ReadUncommitted)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            GroupId = $"compression-{Guid.NewGuid():N}",
            IsolationLevel = isolation,
            EnableAutoCommit = false,
        }).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var read = new List<Message<byte[], byte[]>>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (read.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                read.Add(result.Message);
            }
        }

        Assert.Equal(count, read.Count);
        return read;
    }

    private static void AssertSameRecords(List<Message<byte[], byte[]>> sent, List<Message<byte[], byte[]>> read)
    {
        static string Describe(Message<byte[], byte[]> m) => string.Join(
            '|',
            Convert.ToHexString(m.Key),
            Convert.ToHexString(m.Value),
            m.Timestamp.UnixTimestampMs,
            string.Join(',', m.Headers.Select(h => $"{h.Key}={(h.GetValueBytes() is { } v ? Convert.ToHexString(v) : "null")}")));

        Assert.Equal(sent.Select(Describe), read.Select(Describe));
    }

    private List<StoredBatch> StoredBatches(string topic) => StoredBatches(_broker, topic);

    /// <summary>The batch headers of a partition's segment files, in offset order.</summary>
    private static List<StoredBatch> StoredBatches(TestBroker broker, string topic) =>
        [.. Directory.GetFiles(Path.Combine(broker.DataDir, $"{topic}-0"), "*.log").Order(StringComparer.Ordinal).SelectMany(path => StoredBatches(ReadShared(path)))];

    private static List<StoredBatch> StoredBatches(byte[] segment)
    {
        var batches = new List<StoredBatch>();
        for (var position = 0; position < segment.Length;)
        {
            var header = new RecordBatchHeader(segment.AsSpan(position));
            Assert.True(RecordBatchHeader.IsCrcValid(segment.AsSpan(position, header.TotalSize)));
            batches.Add(new StoredBatch(header.Compression, header.IsTransactional, header.IsControl, header.IsLogAppendTime, header.ProducerId, header.BaseSequence, header.RecordCount));
            position += header.TotalSize;
        }

        return batches;
    }

    private byte[] SegmentBytes(string topic) => ReadShared(Path.Combine(_broker.DataDir, $"{topic}-0", "00000000000000000000.log"));

    private static byte[] ReadShared(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        return bytes;
    }

    private IAdminClient Admin() => new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();

    private async Task CreateTopicAsync(string topic, Dictionary<string, string> configs)
    {
        using var admin = Admin();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1, Configs = configs }]);
    }

    private sealed record StoredBatch(Codec Compression, bool IsTransactional, bool IsControl, bool IsLogAppendTime, long ProducerId, int BaseSequence, int RecordCount);
}
