using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Groups.GroupTestSupport;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Cluster;

public sealed class QuorumLossTests : IAsyncLifetime
{
    private static readonly TimeSpan StepDeadline = TimeSpan.FromSeconds(30);
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(3);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task WithoutAMajority_ExistingLeadersKeepServing_AndMetadataChangesAreRefusedClearly()
    {
        const string topic = "survives";
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _cluster.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = topic,
                NumPartitions = 2,
                ReplicationFactor = 3,
                Configs = new Dictionary<string, string> { ["min.insync.replicas"] = "1" },
            }]);
        }

        // The controller survives; the other two stop cleanly, one after the other. Each controlled shutdown is
        // committed while the quorum still has a majority (the stopping broker and one other), so, as in KRaft,
        // the stopping broker leaves every ISR and its leaderships move to the survivor. Then the quorum is down
        // to one voter of three. Quorum leadership may move meanwhile (on two busy cores an election timeout can
        // pass), so the last decision may be committed by a stopping leader: it tells the survivor its commit
        // index before it leaves, and the survivor applies it in the background, hence the poll.
        var survivor = _cluster.Brokers.Single(b => b!.IsController)!;
        foreach (var other in _cluster.Brokers.Where(b => b is not null && b != survivor).Select(b => b!.Identity.NodeId).ToList())
        {
            await _cluster.StopAsync(other);
        }

        var id = survivor.Identity.NodeId;
        await WaitUntilAsync(
            () => Enumerable.Range(0, 2).All(p => survivor.Replicas.Image.GetPartition(topic, p) is { } state && state.Leader == id && state.Isr.SequenceEqual([id])),
            TimeSpan.FromSeconds(10),
            () => $"broker {id} to lead both partitions with an ISR of itself alone; its image: "
                + string.Join("; ", Enumerable.Range(0, 2).Select(p => survivor.Replicas.Image.GetPartition(topic, p)).Select(s => $"leader {s?.Leader}, ISR [{string.Join(',', s?.Isr ?? [])}]")));

        // Data keeps flowing for the existing leader. acks=all waits for the ISR, which is the survivor alone and
        // satisfies min.insync.replicas=1. What Kafka does, and so Levee: with no controller the ISR cannot change
        // (AlterPartition needs a metadata commit), so had a follower died without a controlled shutdown after the
        // majority was lost, the ISR would still name it and acks=all would end with REQUEST_TIMED_OUT at the
        // request timeout (acks=1 would still succeed); and with min.insync.replicas=2 acks=all is refused with
        // NOT_ENOUGH_REPLICAS. The producer's timeouts are bounded so a regression fails here instead of hanging.
        var producerConfig = new ProducerConfig { BootstrapServers = survivor.BootstrapServers, Acks = Acks.All, RequestTimeoutMs = 10_000, MessageTimeoutMs = 20_000 };
        using (var producer = new ProducerBuilder<Null, string>(producerConfig).Build())
        {
            for (var p = 0; p < 2; p++)
            {
                var delivered = await producer.ProduceAsync(new TopicPartition(topic, p), new Message<Null, string> { Value = "still flowing " + p }).WaitAsync(StepDeadline);
                Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
            }
        }

        using (var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig { BootstrapServers = survivor.BootstrapServers, GroupId = "quorum-loss", EnableAutoCommit = false }).Build())
        {
            consumer.Assign(new TopicPartitionOffset(topic, 1, Offset.Beginning));
            var record = consumer.Consume(StepDeadline);
            Assert.NotNull(record);
            Assert.Equal("still flowing 1", record.Message.Value);
        }

        // A metadata change is refused, and the error says why: the metadata quorum. Whether the survivor still
        // believes it leads (the append times out) or has stepped down (no controller to forward to), the answer
        // comes within the request's bounds.
        const short version = 7;
        using var client = await RawKafkaClient.ConnectAsync(survivor.BootstrapServers);
        var request = new CreateTopicsRequest { TimeoutMs = 5000 };
        request.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = "refused", NumPartitions = 1, ReplicationFactor = 1 });
        var correlationId = await client.SendAsync(ApiKey.CreateTopics, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.CreateTopics, version, correlationId).WaitAsync(StepDeadline);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        var result = Assert.Single(CreateTopicsResponse.Read(ref reader, version).Topics);
        Assert.NotEqual((short)KafkaErrorCode.None, result.ErrorCode);
        Assert.Contains("metadata quorum", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Null(survivor.Replicas.Image.GetPartition("refused", 0));
    }
}
