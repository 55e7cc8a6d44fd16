using Levee.Broker.Cluster;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Quotas.QuotaTestSupport;

namespace Levee.Broker.Tests.Quotas;

/// <summary>KIP-599: controller_mutation_rate bounds the partitions a client creates and deletes per second.</summary>
public sealed class ControllerMutationQuotaTests
{
    [Fact]
    public async Task StrictVersions_RefuseTopicsOnceTheBucketIsSpent_WithThrottlingQuotaExceeded_AndNothingOfThemHappens()
    {
        await using var broker = await TestBroker.StartAsync();

        // 2 partitions a second: a burst of 2 x 11 s = 22 partitions, then 2 a second.
        var (error, message) = await SetQuotaAsync(broker.BootstrapServers, [("client-id", "levee-tests")], ("controller_mutation_rate", 2));
        Assert.True(error == ErrorCode.None, message);

        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var create = new CreateTopicsRequest { TimeoutMs = 30_000 };
        create.Topics.Add(Topic("storm-a", 20));
        create.Topics.Add(Topic("storm-b", 5));
        create.Topics.Add(Topic("storm-c", 1));
        var created = await client.CallAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 7, create);

        // The first two fit in the bucket (the second takes it below zero), the third is refused.
        Assert.Equal([ErrorCode.None, ErrorCode.None, ErrorCode.ThrottlingQuotaExceeded], created.Topics.Select(t => (ErrorCode)t.ErrorCode));
        Assert.Equal("The throttling quota has been exceeded.", created.Topics[2].ErrorMessage);
        Assert.InRange(created.ThrottleTimeMs, 1, 1_500);
        Assert.Null(broker.Broker.Replicas.Image.GetPartition("storm-c", 0));

        // Another connection of the same client shares the bucket: a delete is refused too, and the topic stays.
        using var other = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var delete = new DeleteTopicsRequest { TimeoutMs = 30_000 };
        delete.Topics.Add(new DeleteTopicsRequest.DeleteTopicState { Name = "storm-a" });
        var deleted = await other.CallAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 6, delete);
        Assert.Equal(ErrorCode.ThrottlingQuotaExceeded, (ErrorCode)Assert.Single(deleted.Responses).ErrorCode);
        Assert.True(deleted.ThrottleTimeMs > 0);
        Assert.NotNull(broker.Broker.Replicas.Image.GetPartition("storm-a", 0));

        // A client with another id has no quota: it is not affected.
        var unmetered = new CreateTopicsRequest { TimeoutMs = 30_000 };
        unmetered.Topics.Add(Topic("calm", 30));
        var calm = await CreateAsOtherClientAsync(broker.BootstrapServers, unmetered);
        Assert.Equal(ErrorCode.None, (ErrorCode)Assert.Single(calm.Topics).ErrorCode);
        Assert.Equal(0, calm.ThrottleTimeMs);
    }

    [Fact]
    public async Task OlderVersions_AreServed_AndOnlyThrottled()
    {
        await using var broker = await TestBroker.StartAsync();
        var (error, message) = await SetQuotaAsync(broker.BootstrapServers, [("client-id", "levee-tests")], ("controller_mutation_rate", 1));
        Assert.True(error == ErrorCode.None, message);

        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var create = new CreateTopicsRequest { TimeoutMs = 30_000 };
        create.Topics.Add(Topic("lenient-a", 11));
        create.Topics.Add(Topic("lenient-b", 3));
        var created = await client.CallAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 5, create);

        Assert.All(created.Topics, t => Assert.Equal(ErrorCode.None, (ErrorCode)t.ErrorCode));
        Assert.InRange(created.ThrottleTimeMs, 2_000, 3_000);
        Assert.NotNull(broker.Broker.Replicas.Image.GetPartition("lenient-b", 2));
    }

    private static async Task<CreateTopicsResponse> CreateAsOtherClientAsync(string bootstrap, CreateTopicsRequest request)
    {
        await using var client = new BrokerClient(bootstrap.Split(':')[0], int.Parse(bootstrap.Split(':')[1]), "another-client");
        return await client.SendAsync<CreateTopicsRequest, CreateTopicsResponse>(ApiKey.CreateTopics, 7, request, CancellationToken.None);
    }

    private static CreateTopicsRequest.CreatableTopic Topic(string name, int partitions) =>
        new() { Name = name, NumPartitions = partitions, ReplicationFactor = 1 };
}
