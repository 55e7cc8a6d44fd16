using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests;

/// <summary>
/// queued.max.request.bytes over real sockets: request frames are read into memory only once their size is drawn from
/// the broker-wide budget, so however many clients send however large requests, the broker holds at most the budget of
/// request bytes, holds the other clients back through TCP, and still answers every request.
/// </summary>
public sealed class RequestMemoryTests
{
    private const short ProduceVersion = 9;
    private const int MiB = 1024 * 1024;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ARequestLargerThanTheTransportsReadBuffer_IsServed_ByConfluentKafka()
    {
        await using var broker = await TestBroker.StartAsync();
        await CreateTopicAsync(broker.BootstrapServers, "large", replicationFactor: 1, maxMessageBytes: 8 * MiB);
        var value = new byte[3 * MiB];
        new Random(11).NextBytes(value);

        using (var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, Acks = Acks.All, MessageMaxBytes = 10 * MiB }).Build())
        {
            var delivered = await producer.ProduceAsync("large", new Message<Null, byte[]> { Value = value }).WaitAsync(Patience);
            Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
            Assert.Equal(0, delivered.Offset.Value);
        }

        using var consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "large-reader", AutoOffsetReset = AutoOffsetReset.Earliest }).Build();
        consumer.Assign(new TopicPartitionOffset("large", 0, 0));
        var read = consumer.Consume(Patience);
        Assert.NotNull(read);
        Assert.Equal(value, read.Message.Value);

        // The request was read through the budget, whole.
        Assert.InRange(broker.Broker.RequestMemory.Peak, value.Length, broker.Broker.RequestMemory.Capacity);
    }

    [Fact]
    public async Task ConnectionsWhoseRequestsDoNotFit_AreNotRead_UntilMemoryComesBack_AndAreThenServed()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { SocketRequestMaxBytes = 8 * MiB, QueuedMaxRequestBytes = 16 * MiB });
        await CreateTopicAsync(broker.BootstrapServers, "held", replicationFactor: 1, maxMessageBytes: 8 * MiB);
        var budget = broker.Broker.RequestMemory;
        var frames = Enumerable.Range(1, 6).Select(id => ProduceFrame("held", 6 * MiB, id)).ToList();
        var drawn = frames[0].Length - 4;
        Assert.InRange(2 * drawn, 12 * MiB, budget.Capacity);
        Assert.True(3 * drawn > budget.Capacity);

        // Every client sends its request but for the last byte: two fit in the budget and are read (and wait for
        // their last byte), the four others are not read at all.
        var clients = new List<RawKafkaClient>();
        var lastBytes = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var answers = new List<Task<ProduceResponse>>();
        try
        {
            foreach (var (frame, index) in frames.Select((f, i) => (f, i)))
            {
                var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
                clients.Add(client);
                answers.Add(Task.Run(async () =>
                {
                    await client.Stream.WriteAsync(frame.AsMemory(0, frame.Length - 1));
                    await lastBytes.Task;
                    await client.Stream.WriteAsync(frame.AsMemory(frame.Length - 1));
                    return await ReceiveProduceAsync(client, index + 1);
                }));
            }

            await GroupTestSupport.WaitUntilAsync(() => budget.Held == 2 * drawn && budget.Waiting >= 4, Patience, () => $"two requests read and four waiting (held {budget.Held}, waiting {budget.Waiting})");
            Assert.InRange(budget.Peak, 2 * drawn, budget.Capacity);

            lastBytes.SetResult();
            var responses = await Task.WhenAll(answers).WaitAsync(Patience);
            var offsets = responses.Select(r => Assert.Single(Assert.Single(r.Responses).PartitionResponses)).Select(p =>
            {
                Assert.Equal((short)KafkaErrorCode.None, p.ErrorCode);
                return p.BaseOffset;
            });
            Assert.Equal(Enumerable.Range(0, 6).Select(i => (long)i), offsets.Order());
            Assert.Equal(0, budget.Held);
            Assert.Equal(0, budget.Waiting);
            Assert.InRange(budget.Peak, 2 * drawn, budget.Capacity);
        }
        finally
        {
            lastBytes.TrySetResult();
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task ManyConnectionsSendingLargeRequestsAtOnce_NeverHoldMoreThanTheBudget_AndAllAreAnswered()
    {
        const int connections = 24;
        const int requestsEach = 3;
        await using var broker = await TestBroker.StartAsync(o => o with { SocketRequestMaxBytes = 2 * MiB, QueuedMaxRequestBytes = 4 * MiB });
        await CreateTopicAsync(broker.BootstrapServers, "storm", replicationFactor: 1, maxMessageBytes: 2 * MiB);
        var budget = broker.Broker.RequestMemory;

        var workers = Enumerable.Range(0, connections).Select(c => Task.Run(async () =>
        {
            using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
            var offsets = new List<long>();
            for (var r = 1; r <= requestsEach; r++)
            {
                await client.Stream.WriteAsync(ProduceFrame("storm", MiB, r));
                var partition = Assert.Single(Assert.Single((await ReceiveProduceAsync(client, r)).Responses).PartitionResponses);
                Assert.Equal((short)KafkaErrorCode.None, partition.ErrorCode);
                offsets.Add(partition.BaseOffset);
            }

            return offsets;
        })).ToList();
        var all = (await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(3))).SelectMany(o => o).Order().ToList();

        Assert.Equal(Enumerable.Range(0, connections * requestsEach).Select(i => (long)i), all);
        Assert.InRange(budget.Peak, MiB, budget.Capacity);
        Assert.Equal(0, budget.Held);
        Assert.Equal(0, budget.Waiting);
    }

    [Fact]
    public async Task AcksAllProduces_GiveTheirBytesBackOnceAppended_SoTheFollowersFetchesAreReadAndTheyComplete()
    {
        // Without the early release, the produces waiting for the follower hold the whole budget, and the follower's
        // next fetch (the one that moves the high watermark) waits behind them for memory: the produces time out (or,
        // with the default timeouts, the follower's heartbeats wait too and it is fenced out of the ISR after 9 s).
        // Long session and lag timeouts keep the follower in the ISR whatever happens, so only the fetch can help.
        await using var cluster = await TestCluster.StartAsync(2, o => o with
        {
            SocketRequestMaxBytes = 4 * MiB,
            QueuedMaxRequestBytes = 4 * MiB,
            BrokerSessionTimeoutMs = 120_000,
            ReplicaLagTimeMaxMs = 120_000,
        });
        await CreateTopicAsync(cluster.BootstrapServers, "replicated", replicationFactor: 2, maxMessageBytes: 4 * MiB);
        int leader;
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            var partition = admin.GetMetadata("replicated", Patience).Topics.Single().Partitions.Single();
            Assert.Equal(2, partition.InSyncReplicas.Length);
            leader = partition.Leader;
        }

        var bootstrap = cluster.Brokers[leader - 1]!.BootstrapServers;
        var workers = Enumerable.Range(0, 6).Select(c => Task.Run(async () =>
        {
            using var client = await RawKafkaClient.ConnectAsync(bootstrap);
            await client.Stream.WriteAsync(ProduceFrame("replicated", (int)(1.9 * MiB), 1, timeoutMs: 15_000));
            return Assert.Single(Assert.Single((await ReceiveProduceAsync(client, 1)).Responses).PartitionResponses);
        })).ToList();

        var results = await Task.WhenAll(workers).WaitAsync(Patience);
        Assert.All(results, p => Assert.Equal((short)KafkaErrorCode.None, p.ErrorCode));
        Assert.InRange(cluster.Brokers[leader - 1]!.RequestMemory.Peak, 1, 4 * MiB);
    }

    // A whole Produce v9 frame, length prefix included, carrying one record of valueBytes.
    private static byte[] ProduceFrame(string topic, int valueBytes, int correlationId, int timeoutMs = 30_000)
    {
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, new byte[valueBytes], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())]);
        var request = new ProduceRequest { Acks = -1, TimeoutMs = timeoutMs };
        var topicData = new ProduceRequest.TopicProduceData { Name = topic };
        topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = 0, Records = batch });
        request.TopicData.Add(topicData);

        var buffer = new ArrayBufferWriter<byte>();
        buffer.Write(new byte[4]);
        var writer = new KafkaWriter(buffer);
        new RequestHeader { RequestApiKey = (short)ApiKey.Produce, RequestApiVersion = ProduceVersion, CorrelationId = correlationId, ClientId = "levee-tests" }
            .Write(ref writer, ApiMessages.RequestHeaderVersion(ApiKey.Produce, ProduceVersion));
        request.Write(ref writer, ProduceVersion);
        var frame = buffer.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(frame, frame.Length - 4);
        return frame;
    }

    private static async Task<ProduceResponse> ReceiveProduceAsync(RawKafkaClient client, int correlationId)
    {
        var body = await client.ReceiveAsync(ApiKey.Produce, ProduceVersion, correlationId);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return ProduceResponse.Read(ref reader, ProduceVersion);
    }

    private static async Task CreateTopicAsync(string bootstrap, string topic, short replicationFactor, int maxMessageBytes)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = replicationFactor, Configs = new() { ["max.message.bytes"] = maxMessageBytes.ToString(CultureInfo.InvariantCulture) } }]);
    }
}
