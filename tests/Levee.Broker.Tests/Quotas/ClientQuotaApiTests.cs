using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Quotas.QuotaTestSupport;

namespace Levee.Broker.Tests.Quotas;

/// <summary>AlterClientQuotas and DescribeClientQuotas on Kafka's entity types, keys, match types and errors.</summary>
public sealed class ClientQuotaApiTests
{
    [Fact]
    public async Task Alter_SetsAndRemovesQuotas_DescribeFiltersThem_AndTheySurviveARestart()
    {
        await using var broker = await TestBroker.StartAsync();
        using (var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            var request = Alter([("user", "alice")], [("producer_byte_rate", 65536), ("consumer_byte_rate", 262144)]);
            request.Entries.Add(Alter([("user", "alice"), ("client-id", null)], [("request_percentage", 25.5)]).Entries[0]);
            request.Entries.Add(Alter([("client-id", "app")], [("controller_mutation_rate", 2)]).Entries[0]);
            request.Entries.Add(Alter([("ip", "10.1.2.3")], [("connection_creation_rate", 10)]).Entries[0]);
            var response = await client.CallAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, request);
            Assert.All(response.Entries, e => Assert.Equal(ErrorCode.None, (ErrorCode)e.ErrorCode));

            var all = await DescribeAllAsync(client);
            Assert.Equal(4, all.Count);
            Assert.Equal(65536, all["user=alice"]["producer_byte_rate"]);
            Assert.Equal(262144, all["user=alice"]["consumer_byte_rate"]);
            Assert.Equal(25.5, all["user=alice,client-id=<default>"]["request_percentage"]);
            Assert.Equal(10, all["ip=10.1.2.3"]["connection_creation_rate"]);

            // Match types: exact name, the default entity, any entity of a type; strict leaves out entities with other parts.
            Assert.Equal(["user=alice", "user=alice,client-id=<default>"], (await DescribeAllAsync(client, Component("user", 0, "alice"))).Keys.Order());
            Assert.Equal(["user=alice,client-id=<default>"], (await DescribeAllAsync(client, Component("client-id", 1, null))).Keys);
            Assert.Equal(["client-id=app", "user=alice,client-id=<default>"], (await DescribeAllAsync(client, Component("client-id", 2, null))).Keys.Order());
            var strict = new DescribeClientQuotasRequest { Strict = true };
            strict.Components.Add(Component("user", 2, null));
            var strictResponse = await client.CallAsync<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, 1, strict);
            Assert.Equal("alice", Assert.Single(Assert.Single(strictResponse.Entries!).Entity).EntityName);

            // Removing the last key of an entity removes the entity.
            var removed = await client.CallAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, Alter([("client-id", "app")], [("controller_mutation_rate", 0)], remove: true));
            Assert.Equal(ErrorCode.None, (ErrorCode)Assert.Single(removed.Entries).ErrorCode);
            Assert.DoesNotContain("client-id=app", (await DescribeAllAsync(client)).Keys);
        }

        await broker.RestartAsync();
        using var after = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var restored = await DescribeAllAsync(after);
        Assert.Equal(3, restored.Count);
        Assert.Equal(65536, restored["user=alice"]["producer_byte_rate"]);
    }

    [Theory]
    [InlineData("user", "alice", "no_such_quota", 1.0, "Invalid configuration key no_such_quota")]
    [InlineData("user", "alice", "producer_byte_rate", 0.0, "must be a positive number")]
    [InlineData("user", "alice", "producer_byte_rate", -5.0, "must be a positive number")]
    [InlineData("user", "alice", "producer_byte_rate", 1.5, "must be a Long value")]
    [InlineData("ip", "10.0.0.1", "producer_byte_rate", 100.0, "for entity ip=10.0.0.1")]
    [InlineData("ip", "not an address", "connection_creation_rate", 10.0, "is not a valid IP")]
    [InlineData("tenant", "acme", "producer_byte_rate", 100.0, "Unhandled client quota entity type: tenant")]
    public async Task Alter_InvalidEntry_IsRefusedWithInvalidRequest_AndNothingOfItApplies(string type, string name, string key, double value, string message)
    {
        await using var broker = await TestBroker.StartAsync();
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);

        // The invalid entry's valid operation does not apply either; the other entry does.
        var request = Alter([(type, name)], [("consumer_byte_rate", 1000), (key, value)]);
        request.Entries.Add(Alter([("user", "bob")], [("producer_byte_rate", 1000)]).Entries[0]);
        var response = await client.CallAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, request);

        Assert.Equal(ErrorCode.InvalidRequest, (ErrorCode)response.Entries[0].ErrorCode);
        Assert.Contains(message, response.Entries[0].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(ErrorCode.None, (ErrorCode)response.Entries[1].ErrorCode);
        Assert.Equal(["user=bob"], (await DescribeAllAsync(client)).Keys);
    }

    [Fact]
    public async Task Alter_InvalidEntities_AndValidateOnly_ChangeNothing()
    {
        await using var broker = await TestBroker.StartAsync();
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);

        var request = Alter([("user", "a"), ("ip", "10.0.0.1")], [("producer_byte_rate", 10)]);
        request.Entries.Add(Alter([("user", "a"), ("user", "b")], [("producer_byte_rate", 10)]).Entries[0]);
        request.Entries.Add(Alter([], [("producer_byte_rate", 10)]).Entries[0]);
        var response = await client.CallAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, request);
        Assert.All(response.Entries, e => Assert.Equal(ErrorCode.InvalidRequest, (ErrorCode)e.ErrorCode));

        var validated = await client.CallAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, Alter([("user", "a")], [("producer_byte_rate", 10)], validateOnly: true));
        Assert.Equal(ErrorCode.None, (ErrorCode)Assert.Single(validated.Entries).ErrorCode);
        Assert.Empty(await DescribeAllAsync(client));

        var badFilter = new DescribeClientQuotasRequest();
        badFilter.Components.Add(Component("tenant", 2, null));
        var refused = await client.CallAsync<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, 1, badFilter);
        Assert.Equal(ErrorCode.InvalidRequest, (ErrorCode)refused.ErrorCode);
    }

    [Fact]
    public async Task Alter_OnAFollowerBroker_IsForwardedToTheController()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var follower = cluster.Brokers.First(b => b is { IsController: false })!;
        var (error, message) = await SetQuotaAsync(follower.BootstrapServers, [("user", "carol")], ("producer_byte_rate", 4096));
        Assert.True(error == ErrorCode.None, message);

        // Every broker's image has it once the controller committed it.
        var carol = new ClientQuotaEntity(new QuotaEntityName("carol"), null, null);
        foreach (var broker in cluster.Brokers)
        {
            await GroupTestSupport.WaitUntilAsync(
                () => broker!.Replicas.Image.ClientQuotas.ContainsKey(carol),
                TimeSpan.FromSeconds(10),
                () => $"broker {broker!.Identity.NodeId} has not applied the quota");
        }
    }

    private static DescribeClientQuotasRequest.ComponentData Component(string type, sbyte match, string? name) =>
        new() { EntityType = type, MatchType = match, Match = name };
}
