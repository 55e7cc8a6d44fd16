using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Security;

/// <summary>What each listener serves: the controller's APIs and follower fetches only on the inter-broker listener.</summary>
public sealed class ListenerTests
{
    private static readonly ApiKey[] ControllerApis = [ApiKey.BrokerRegistration, ApiKey.BrokerHeartbeat, ApiKey.AlterPartition, ApiKey.AllocateProducerIds];

    [Fact]
    public async Task BrokerHeartbeat_OnClientListener_ClosesConnection()
    {
        await using var broker = await TestBroker.StartAsync();
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        await client.SendAsync(ApiKey.BrokerHeartbeat, 1, (ref KafkaWriter w) => new BrokerHeartbeatRequest { BrokerId = 1, BrokerEpoch = 1 }.Write(ref w, 1));
        Assert.True(await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(ApiKey.BrokerRegistration, 3)]
    [InlineData(ApiKey.AlterPartition, 2)]
    [InlineData(ApiKey.AllocateProducerIds, 0)]
    public async Task ControllerApi_OnClientListener_ClosesConnectionAndChangesNothing(ApiKey key, short version)
    {
        await using var broker = await TestBroker.StartAsync();
        var registered = broker.Broker.Replicas.Image.Brokers[1];
        using (var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            // The attack of issue 10: a registration naming this broker's id, pointing it elsewhere.
            await client.SendAsync(key, version, (ref KafkaWriter w) =>
            {
                switch (key)
                {
                    case ApiKey.BrokerRegistration:
                        var request = new BrokerRegistrationRequest { BrokerId = 1, IncarnationId = Guid.NewGuid() };
                        request.Listeners.Add(new BrokerRegistrationRequest.Listener { Name = "PLAINTEXT", Host = "10.9.9.9", Port = 1 });
                        request.Write(ref w, version);
                        break;
                    case ApiKey.AlterPartition:
                        new AlterPartitionRequest { BrokerId = 1, BrokerEpoch = registered.Epoch }.Write(ref w, version);
                        break;
                    default:
                        new AllocateProducerIdsRequest { BrokerId = 1, BrokerEpoch = registered.Epoch }.Write(ref w, version);
                        break;
                }
            });
            Assert.True(await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
        }

        Assert.Equal(registered, broker.Broker.Replicas.Image.Brokers[1]);
    }

    [Fact]
    public async Task ApiVersions_OnClientListener_LeavesOutTheControllerApis()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { Listeners = "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0" });
        var client = await ApiVersionsAsync(broker.BootstrapServers);
        Assert.Contains(client.ApiKeys, k => k.ApiKey == (short)ApiKey.Produce);
        Assert.DoesNotContain(client.ApiKeys, k => ControllerApis.Contains((ApiKey)k.ApiKey));

        var interBroker = await ApiVersionsAsync(Address(broker, "BROKER"));
        Assert.All(ControllerApis, key => Assert.Contains(interBroker.ApiKeys, k => k.ApiKey == (short)key));
    }

    [Fact]
    public async Task BrokerHeartbeat_OnInterBrokerListener_IsAnswered()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { Listeners = "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0" });
        using var client = await RawKafkaClient.ConnectAsync(Address(broker, "BROKER"));
        var id = await client.SendAsync(ApiKey.BrokerHeartbeat, 1, (ref KafkaWriter w) => new BrokerHeartbeatRequest { BrokerId = 9, BrokerEpoch = 1 }.Write(ref w, 1));
        var body = await client.ReceiveAsync(ApiKey.BrokerHeartbeat, 1, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        Assert.NotEqual((short)KafkaErrorCode.None, BrokerHeartbeatResponse.Read(ref reader, 1).ErrorCode);
    }

    [Theory]
    [InlineData(12)]
    [InlineData(16)]
    public async Task Fetch_WithReplicaIdOnClientListener_IsRefused(short version)
    {
        await using var broker = await TestBroker.StartAsync();
        await ProduceOneAsync(broker, "replica-claim");
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);

        // A consumer's fetch gets the record: the refusal below is about the replica id alone.
        var consumer = await FetchAsync(client, broker, "replica-claim", version, replicaId: -1);
        Assert.Equal((short)KafkaErrorCode.None, consumer.ErrorCode);
        Assert.False(consumer.Records!.Value.IsEmpty);

        var follower = await FetchAsync(client, broker, "replica-claim", version, replicaId: 2);
        Assert.Equal((short)KafkaErrorCode.TopicAuthorizationFailed, follower.ErrorCode);
        Assert.True(follower.Records is null || follower.Records.Value.IsEmpty);
    }

    [Fact]
    public async Task Metadata_AnswersTheEndpointsOfTheListenerAsked()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { Listeners = "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0" });
        foreach (var listener in new[] { "PLAINTEXT", "BROKER" })
        {
            var address = Address(broker, listener);
            Assert.Equal(address, await MetadataSelfAsync(address));
        }
    }

    [Fact]
    public async Task AdvertisedListener_IsWhatMetadataAnswers()
    {
        var port = FreePort();
        await using var broker = await TestBroker.StartAsync(o => o with { Listeners = $"PLAINTEXT://127.0.0.1:{port}", AdvertisedListeners = "PLAINTEXT://kafka.example:9092" });
        Assert.Equal("kafka.example:9092", broker.BootstrapServers);
        Assert.Equal("kafka.example:9092", await MetadataSelfAsync($"127.0.0.1:{port}"));
    }

    private static async Task<string> MetadataSelfAsync(string address)
    {
        using var client = await RawKafkaClient.ConnectAsync(address);
        const short version = 12;
        var id = await client.SendAsync(ApiKey.Metadata, version, (ref KafkaWriter w) => new MetadataRequest { Topics = [] }.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.Metadata, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        var self = Assert.Single(MetadataResponse.Read(ref reader, version).Brokers);
        return $"{self.Host}:{self.Port}";
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Address(TestBroker broker, string listener)
    {
        var endpoint = broker.Broker.Identity.Endpoints.Single(e => e.Name == listener);
        return $"{endpoint.Host}:{endpoint.Port}";
    }

    private static async Task<ApiVersionsResponse> ApiVersionsAsync(string address)
    {
        using var client = await RawKafkaClient.ConnectAsync(address);
        const short version = 3;
        var id = await client.SendAsync(ApiKey.ApiVersions, version, (ref KafkaWriter w) => new ApiVersionsRequest { ClientSoftwareName = "levee-tests", ClientSoftwareVersion = "1" }.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.ApiVersions, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return ApiVersionsResponse.Read(ref reader, version);
    }

    private static async Task ProduceOneAsync(TestBroker broker, string topic)
    {
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        await producer.ProduceAsync(topic, new Message<string, string> { Key = "k", Value = "v" });
    }

    private static async Task<FetchResponse.PartitionData> FetchAsync(RawKafkaClient client, TestBroker broker, string topic, short version, int replicaId)
    {
        Assert.True(broker.Broker.Replicas.Topics.TryGet(topic, out var info));
        var request = new FetchRequest { MaxWaitMs = 0, MinBytes = 0, MaxBytes = 1 << 20, SessionEpoch = -1, ReplicaId = replicaId };
        request.ReplicaState.ReplicaId = replicaId;
        request.ReplicaState.ReplicaEpoch = -1;
        var fetchTopic = new FetchRequest.FetchTopic { Topic = topic, TopicId = info.TopicId };
        fetchTopic.Partitions.Add(new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1 << 20, LastFetchedEpoch = -1 });
        request.Topics.Add(fetchTopic);
        var id = await client.SendAsync(ApiKey.Fetch, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.Fetch, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        var response = FetchResponse.Read(ref reader, version);
        Assert.Equal((short)KafkaErrorCode.None, response.ErrorCode);
        return Assert.Single(Assert.Single(response.Responses).Partitions);
    }
}
