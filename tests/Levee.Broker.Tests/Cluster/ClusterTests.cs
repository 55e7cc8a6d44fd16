using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests.Cluster;

public sealed class ClusterTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(3);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task AutoCreate_OnEveryBroker_IsForwardedToTheController_WithReplicationFactorThree()
    {
        // Ask each broker in turn, so at least two of them are not the controller.
        foreach (var broker in _cluster.Brokers)
        {
            var topic = "auto-" + broker!.Identity.NodeId;
            using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, Acks = Acks.All }).Build();
            var delivered = await producer.ProduceAsync(topic, new Message<Null, string> { Value = "hello" });
            Assert.Equal(PersistenceStatus.Persisted, delivered.Status);

            var partition = broker.Replicas.Image.GetPartition(topic, 0);
            Assert.NotNull(partition);
            Assert.Equal(3, partition.Replicas.Length);
        }
    }

    [Fact]
    public async Task CreateTopics_SentToANonController_IsForwarded()
    {
        var other = _cluster.Brokers.First(b => !b!.IsController)!;

        // A raw CreateTopics to a broker that is not the controller still creates the topic.
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = other.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "forwarded", NumPartitions = 6, ReplicationFactor = 3 }]);
        var topic = Assert.Single(admin.GetMetadata("forwarded", TimeSpan.FromSeconds(10)).Topics);
        Assert.Equal(6, topic.Partitions.Count);
        Assert.All(topic.Partitions, p => Assert.Equal(3, p.InSyncReplicas.Length));
    }

    [Fact]
    public async Task AcksAll_AcrossAControlledShutdownOfALeader_LosesNoAcknowledgedRecord()
    {
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _cluster.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = "replicated",
                NumPartitions = 3,
                ReplicationFactor = 3,
                Configs = new Dictionary<string, string> { ["min.insync.replicas"] = "2" },
            }]);
        }

        var acknowledged = new List<(int Partition, long Offset, string Value)>();
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _cluster.BootstrapServers, Acks = Acks.All, EnableIdempotence = true }).Build();
        async Task ProduceAsync(int from, int count)
        {
            for (var i = from; i < from + count; i++)
            {
                var result = await producer.ProduceAsync(new TopicPartition("replicated", i % 3), new Message<Null, string> { Value = "r" + i });
                acknowledged.Add((result.Partition.Value, result.Offset.Value, result.Message.Value));
            }
        }

        await ProduceAsync(0, 300);

        // The leader of partition 0 stops cleanly: its leadership moves to an in-sync follower first.
        var leader = _cluster.Brokers[0]!.Replicas.Image.GetPartition("replicated", 0)!.Leader;
        await _cluster.StopAsync(leader);
        await ProduceAsync(300, 300);

        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig { BootstrapServers = _cluster.BootstrapServers, GroupId = "levee-tests", EnableAutoCommit = false }).Build();
        foreach (var group in acknowledged.GroupBy(a => a.Partition))
        {
            consumer.Assign(new TopicPartitionOffset("replicated", group.Key, Offset.Beginning));
            var expected = group.OrderBy(a => a.Offset).ToList();
            foreach (var (_, offset, value) in expected)
            {
                var record = consumer.Consume(TimeSpan.FromSeconds(10));
                Assert.NotNull(record);
                Assert.Equal(offset, record.Offset.Value);
                Assert.Equal(value, record.Message.Value);
            }
        }
    }
}
