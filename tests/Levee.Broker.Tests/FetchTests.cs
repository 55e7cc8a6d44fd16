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
    public async Task AResponse_AheadOfAPipelinedLongPoll_IsSentWithoutWaitingForIt()
    {
        await CreateTopicAsync("idle");
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        const short version = 12;
        var longPoll = FetchRequestFor("idle", 0, maxWaitMs: 30_000, minBytes: 1);
        client.Cork();
        var first = await client.SendAsync(ApiKey.ApiVersions, 3, (ref KafkaWriter w) => new ApiVersionsRequest { ClientSoftwareName = "levee-tests", ClientSoftwareVersion = "1" }.Write(ref w, 3));
        await client.SendAsync(ApiKey.Fetch, version, (ref KafkaWriter w) => longPoll.Write(ref w, version));
        await client.UncorkAsync(); // one write: the broker reads both frames at once

        // The long poll waits up to 30 s for data that never comes; the ApiVersions answer must not wait with it.
        Assert.NotNull(await client.ReceiveAsync(ApiKey.ApiVersions, 3, first).WaitAsync(TimeSpan.FromSeconds(10)));
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

    [Fact]
    public async Task Fetch_SpanningSeveralPartitionsWithLargeRecords_ReturnsTheStoredBatchesByteForByte()
    {
        const string topic = "large-records";
        const int partitions = 4;
        await CreateTopicAsync(topic, partitions);
        var produced = await ProduceLargeRecordsAsync(topic, partitions, batchesPerPartition: 3, recordsPerBatch: 3, recordSize: 100_000);

        // Several versions, pipelined on one connection: each response's frame interleaves its structure with the
        // partitions' record bytes read from the segments.
        short[] versions = [4, 7, 11, 12, 13, 15, 16, 17];
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var sent = new List<(int Id, short Version)>();
        foreach (var version in versions)
        {
            var request = FetchRequestFor(topic, Enumerable.Range(0, partitions), offset: 0, maxWaitMs: 0, minBytes: 0, partitionMaxBytes: 8 << 20, maxBytes: 64 << 20);
            sent.Add((await client.SendAsync(ApiKey.Fetch, version, (ref KafkaWriter w) => request.Write(ref w, version)), version));
        }

        foreach (var (id, version) in sent)
        {
            var body = await client.ReceiveAsync(ApiKey.Fetch, version, id);
            Assert.NotNull(body);
            var reader = new KafkaReader(body);
            var response = FetchResponse.Read(ref reader, version);
            Assert.Equal(body.Length, reader.Position);
            var data = Assert.Single(response.Responses).Partitions;
            Assert.Equal(partitions, data.Count);
            foreach (var partition in data)
            {
                Assert.Equal((short)KafkaErrorCode.None, partition.ErrorCode);
                var bytes = partition.Records!.Value.ToArray();

                // Exactly the segment file, which is exactly what was produced, offsets and leader epoch assigned.
                Assert.Equal(SegmentBytes(topic, partition.PartitionIndex), bytes);
                var position = 0;
                foreach (var batch in produced[partition.PartitionIndex])
                {
                    var stored = bytes.AsSpan(position, batch.Length);
                    Assert.True(stored[RecordBatchHeader.BatchLengthPosition..RecordBatchHeader.PartitionLeaderEpochPosition].SequenceEqual(batch.AsSpan(RecordBatchHeader.BatchLengthPosition, 4)));
                    Assert.True(stored[RecordBatchHeader.MagicPosition..].SequenceEqual(batch.AsSpan(RecordBatchHeader.MagicPosition)));
                    position += batch.Length;
                }

                Assert.Equal(bytes.Length, position);
            }
        }

        // And a real client reads every record back.
        using var consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig { BootstrapServers = _broker.BootstrapServers, GroupId = "levee-tests" }).Build();
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, 0)));
        var values = new Dictionary<(int, long), byte[]>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (values.Count < partitions * 3 * 3 && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { } result)
            {
                values[(result.Partition.Value, result.Offset.Value)] = result.Message.Value;
            }
        }

        Assert.Equal(partitions * 3 * 3, values.Count);
        Assert.All(values, v => Assert.Equal(LargeValue(v.Key.Item1, v.Key.Item2, 100_000), v.Value));
    }

    [Fact]
    public async Task Fetch_WhenTheClientDisconnectsMidResponse_LeaksNoSegmentHandleAndTheBrokerServesOn()
    {
        if (!Directory.Exists("/proc/self/fd"))
        {
            return; // Linux only
        }

        const string topic = "disconnects";
        const int partitions = 4;
        await CreateTopicAsync(topic, partitions);
        await ProduceLargeRecordsAsync(topic, partitions, batchesPerPartition: 4, recordsPerBatch: 4, recordSize: 100_000);
        var everything = FetchRequestFor(topic, Enumerable.Range(0, partitions), offset: 0, maxWaitMs: 0, minBytes: 0, partitionMaxBytes: 8 << 20, maxBytes: 64 << 20);
        const short version = 12;
        for (var round = 0; round < 10; round++)
        {
            // Ask for ~6.4 MB three times over, read a little of the first answer (or nothing), and reset the connection.
            using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
            for (var i = 0; i < 3; i++)
            {
                await client.SendAsync(ApiKey.Fetch, version, (ref KafkaWriter w) => everything.Write(ref w, version));
            }

            if (round % 2 == 0)
            {
                await client.Stream.ReadExactlyAsync(new byte[(round + 1) * 10_000]);
            }

            client.Stream.Socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        }

        // A long poll abandoned while it waits for more than the last batches it has read (and let go of).
        using (var waiting = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers))
        {
            var poll = FetchRequestFor(topic, Enumerable.Range(0, partitions), offset: 12, maxWaitMs: 30_000, minBytes: 64 << 20, partitionMaxBytes: 8 << 20, maxBytes: 64 << 20);
            await waiting.SendAsync(ApiKey.Fetch, version, (ref KafkaWriter w) => poll.Write(ref w, version));

            // Not synchronisation: the assertions below hold whenever the reset lands. The pause only makes it
            // likely that the broker has parked this long poll (nothing outside shows that) before the reset.
            await Task.Delay(200);
        }

        // The broker is fine and answers in full.
        using (var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers))
        {
            var id = await client.SendAsync(ApiKey.Fetch, version, (ref KafkaWriter w) => everything.Write(ref w, version));
            var body = await client.ReceiveAsync(ApiKey.Fetch, version, id);
            Assert.NotNull(body);
            var reader = new KafkaReader(body);
            foreach (var partition in FetchResponse.Read(ref reader, version).Responses[0].Partitions)
            {
                Assert.Equal(SegmentBytes(topic, partition.PartitionIndex), partition.Records!.Value.ToArray());
            }
        }

        // Once the broker has closed its logs, no descriptor of its data directory is left open: every read's hold
        // on a segment file was given back, whether its response was sent, cut off, or never written.
        await _broker.Broker.DisposeAsync();
        var open = Directory.GetFileSystemEntries("/proc/self/fd")
            .Select(fd =>
            {
                try
                {
                    return new FileInfo(fd).LinkTarget;
                }
                catch (IOException)
                {
                    return null;
                }
            })
            .OfType<string>()
            .Where(target => target.StartsWith(_broker.DataDir, StringComparison.Ordinal))
            .ToList();
        Assert.Empty(open);
    }

    [Fact]
    public async Task ZstdTopic_FetchedBelowV10_IsUnsupportedCompressionType_AndFromV10IsServed()
    {
        await CreateTopicAsync("zstd-topic", configs: new() { ["compression.type"] = "zstd" });
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await ProduceRawAsync("zstd-topic", RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, Encoding.UTF8.GetBytes("z"), now)]));

        var old = await FetchRawAsync("zstd-topic", offset: 0, version: 9);
        var current = await FetchRawAsync("zstd-topic", offset: 0, version: 10);

        Assert.Equal(((short)KafkaErrorCode.UnsupportedCompressionType, -1L, 0), (old.ErrorCode, old.HighWatermark, old.Records?.Length ?? 0));
        Assert.Equal(((short)KafkaErrorCode.None, 1L), (current.ErrorCode, current.HighWatermark));
        Assert.Equal(Levee.Protocol.Records.CompressionType.Zstd, new RecordBatchHeader(current.Records!.Value.Span).Compression);
    }

    private async Task CreateTopicAsync(string topic, int partitions = 1, Dictionary<string, string>? configs = null)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1, Configs = configs }]);
    }

    private FetchRequest FetchRequestFor(string topic, long offset, int maxWaitMs, int minBytes) =>
        FetchRequestFor(topic, [0], offset, maxWaitMs, minBytes, partitionMaxBytes: 1 << 20, maxBytes: 1 << 20);

    private FetchRequest FetchRequestFor(string topic, IEnumerable<int> partitions, long offset, int maxWaitMs, int minBytes, int partitionMaxBytes, int maxBytes)
    {
        Assert.True(_broker.Broker.Replicas.Topics.TryGet(topic, out var info));
        var request = new FetchRequest { MaxWaitMs = maxWaitMs, MinBytes = minBytes, MaxBytes = maxBytes, SessionEpoch = -1 };
        var fetchTopic = new FetchRequest.FetchTopic { Topic = topic, TopicId = info.TopicId };
        foreach (var partition in partitions)
        {
            fetchTopic.Partitions.Add(new FetchRequest.FetchPartition { Partition = partition, FetchOffset = offset, PartitionMaxBytes = partitionMaxBytes });
        }

        request.Topics.Add(fetchTopic);
        return request;
    }

    /// <summary>Produces batches of large records to every partition; returns each partition's batches as sent.</summary>
    private async Task<List<byte[]>[]> ProduceLargeRecordsAsync(string topic, int partitions, int batchesPerPartition, int recordsPerBatch, int recordSize)
    {
        var produced = Enumerable.Range(0, partitions).Select(_ => new List<byte[]>()).ToArray();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var b = 0; b < batchesPerPartition; b++)
        {
            for (var p = 0; p < partitions; p++)
            {
                var firstOffset = (long)b * recordsPerBatch;
                var records = Enumerable.Range(0, recordsPerBatch)
                    .Select(r => new RecordData(Encoding.UTF8.GetBytes($"k{p}-{firstOffset + r}"), LargeValue(p, firstOffset + r, recordSize), now))
                    .ToArray();
                var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), records);
                produced[p].Add(batch);
                await ProduceRawAsync(topic, batch, p);
            }
        }

        return produced;
    }

    private static byte[] LargeValue(int partition, long offset, int size)
    {
        var value = new byte[size];
        new Random(HashCode.Combine(partition, offset)).NextBytes(value);
        return value;
    }

    /// <summary>The whole first segment file of a partition, as stored.</summary>
    private byte[] SegmentBytes(string topic, int partition)
    {
        var path = Path.Combine(_broker.DataDir, $"{topic}-{partition}", "00000000000000000000.log");
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        return bytes;
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

    private async Task ProduceRawAsync(string topic, byte[] batch, int partition = 0)
    {
        const short version = 9;
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var request = new ProduceRequest { Acks = 1, TimeoutMs = 10_000 };
        var topicData = new ProduceRequest.TopicProduceData { Name = topic };
        topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = partition, Records = batch });
        request.TopicData.Add(topicData);
        var id = await client.SendAsync(ApiKey.Produce, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.Produce, version, id);
        var reader = new KafkaReader(body!);
        Assert.Equal(0, ProduceResponse.Read(ref reader, version).Responses[0].PartitionResponses[0].ErrorCode);
    }
}
