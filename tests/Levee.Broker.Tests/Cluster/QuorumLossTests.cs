using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Cluster;

public sealed class QuorumLossTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(3);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task WithoutAMajority_ExistingLeadersKeepServing_AndMetadataChangesAreRefusedClearly()
    {
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _cluster.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "survives", NumPartitions = 2, ReplicationFactor = 3 }]);
        }

        // Two of three brokers stop cleanly, one after the other: leadership moves to the survivor while a
        // majority is still there; then the quorum is down to one voter of three.
        await _cluster.StopAsync(1);
        await _cluster.StopAsync(2);
        var survivor = _cluster.Brokers[2]!;
        Assert.All(Enumerable.Range(0, 2), p => Assert.Equal(3, survivor.Replicas.Image.GetPartition("survives", p)!.Leader));

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = survivor.BootstrapServers, Acks = Acks.All }).Build())
        {
            var delivered = await producer.ProduceAsync("survives", new Message<Null, string> { Value = "still flowing" });
            Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
        }

        const short version = 7;
        using var client = await RawKafkaClient.ConnectAsync(survivor.BootstrapServers);
        var request = new CreateTopicsRequest { TimeoutMs = 5000 };
        request.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = "refused", NumPartitions = 1, ReplicationFactor = 1 });
        var id = await client.SendAsync(ApiKey.CreateTopics, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.CreateTopics, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        var result = Assert.Single(CreateTopicsResponse.Read(ref reader, version).Topics);
        Assert.NotEqual((short)KafkaErrorCode.None, result.ErrorCode);
        Assert.Contains("metadata quorum", result.ErrorMessage, StringComparison.Ordinal);
    }
}
