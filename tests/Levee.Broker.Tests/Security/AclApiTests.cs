using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Security.SecuredBroker;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Security;

/// <summary>CreateAcls, DescribeAcls and DeleteAcls through Confluent.Kafka's admin client, as kafka-acls.sh uses them.</summary>
public sealed class AclApiTests
{
    private static readonly AclBinding AliceReadsOrders = Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "User:alice", AclOperation.Read);
    private static readonly AclBinding AliceWritesOrdersPrefix = Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, "User:alice", AclOperation.Write);
    private static readonly AclBinding BobDeniedGroup = Acl(ResourceType.Group, "g", ResourcePatternType.Literal, "User:bob", AclOperation.Read, AclPermissionType.Deny, host: "10.0.0.1");
    private static readonly AclBinding AliceAltersCluster = Acl(ResourceType.Broker, "kafka-cluster", ResourcePatternType.Literal, "User:alice", AclOperation.Alter);
    private static readonly AclBinding EveryoneReadsAnyTopic = Acl(ResourceType.Topic, "*", ResourcePatternType.Literal, "User:*", AclOperation.Read);

    [Fact]
    public async Task CreateDescribeDelete_RoundTripWithFilters_AndSurviveARestart()
    {
        await using var broker = await StartAsync(o => o with { SuperUsers = new HashSet<string> { "User:ANONYMOUS" } });
        using (var admin = broker.Admin(ClientIdentity.Anonymous))
        {
            await admin.CreateAclsAsync([AliceReadsOrders, AliceWritesOrdersPrefix, BobDeniedGroup, AliceAltersCluster, EveryoneReadsAnyTopic]);

            // Creating an ACL that exists succeeds and adds nothing, as in Kafka.
            await admin.CreateAclsAsync([AliceReadsOrders]);
            Assert.Equal(5, (await admin.DescribeAclsAsync(AnyAcl)).AclBindings.Count);

            // MATCH: every ACL that applies to the resource (literal name, literal wildcard, prefixes).
            Assert.Equal(
                Set(AliceWritesOrdersPrefix, EveryoneReadsAnyTopic),
                Set([.. (await admin.DescribeAclsAsync(Filter(ResourceType.Topic, "orders-eu", ResourcePatternType.Match))).AclBindings]));
            Assert.Equal(
                Set(AliceReadsOrders, EveryoneReadsAnyTopic),
                Set([.. (await admin.DescribeAclsAsync(Filter(ResourceType.Topic, "orders", ResourcePatternType.Match))).AclBindings]));

            // ANY: either pattern type, the name as stored; a pattern type: only that one.
            Assert.Equal(Set(AliceWritesOrdersPrefix), Set([.. (await admin.DescribeAclsAsync(Filter(ResourceType.Topic, "orders-", ResourcePatternType.Any))).AclBindings]));
            Assert.Equal(Set(AliceReadsOrders, EveryoneReadsAnyTopic), Set([.. (await admin.DescribeAclsAsync(Filter(ResourceType.Topic, null, ResourcePatternType.Literal))).AclBindings]));
            Assert.Equal(Set(BobDeniedGroup), Set([.. (await admin.DescribeAclsAsync(Filter(ResourceType.Any, null, ResourcePatternType.Any, principal: "User:bob"))).AclBindings]));
            Assert.Equal(Set(BobDeniedGroup), Set([.. (await admin.DescribeAclsAsync(Filter(ResourceType.Any, null, ResourcePatternType.Any, host: "10.0.0.1"))).AclBindings]));

            // Delete alice's topic ACLs: the answer lists what was removed.
            var deleted = await admin.DeleteAclsAsync([Filter(ResourceType.Topic, null, ResourcePatternType.Any, principal: "User:alice")]);
            Assert.Equal(Set(AliceReadsOrders, AliceWritesOrdersPrefix), Set([.. Assert.Single(deleted).AclBindings]));
        }

        await broker.Broker.RestartAsync();
        using var restarted = broker.Admin(ClientIdentity.Anonymous);
        Assert.Equal(Set(BobDeniedGroup, AliceAltersCluster, EveryoneReadsAnyTopic), Set([.. (await restarted.DescribeAclsAsync(AnyAcl)).AclBindings]));
    }

    [Fact]
    public async Task CreateAcls_InvalidEntries_AreRefusedOneByOneWithInvalidRequest()
    {
        await using var broker = await StartAsync(o => o with { SuperUsers = new HashSet<string> { "User:ANONYMOUS" } });
        using var admin = broker.Admin(ClientIdentity.Anonymous);
        var wrongClusterName = Acl(ResourceType.Broker, "my-cluster", ResourcePatternType.Literal, "User:alice", AclOperation.Alter);
        var noPrincipalType = Acl(ResourceType.Topic, "t", ResourcePatternType.Literal, "alice", AclOperation.Read);

        var error = await Assert.ThrowsAsync<CreateAclsException>(() => admin.CreateAclsAsync([wrongClusterName, AliceReadsOrders, noPrincipalType]));

        Assert.Equal([ErrorCode.InvalidRequest, ErrorCode.NoError, ErrorCode.InvalidRequest], error.Results.Select(r => r.Error.Code));
        Assert.Equal(Set(AliceReadsOrders), Set([.. (await admin.DescribeAclsAsync(AnyAcl)).AclBindings]));
    }

    [Fact]
    public async Task CreateAcls_OverTheRecordBound_IsRefusedWholeWithPolicyViolation()
    {
        await using var broker = await StartAsync(o => o with { SuperUsers = new HashSet<string> { "User:ANONYMOUS" }, MaxRecordsPerUserOp = 2 });
        using var admin = broker.Admin(ClientIdentity.Anonymous);

        var error = await Assert.ThrowsAsync<CreateAclsException>(() => admin.CreateAclsAsync([AliceReadsOrders, AliceWritesOrdersPrefix, AliceAltersCluster]));

        Assert.All(error.Results, r => Assert.Equal(ErrorCode.PolicyViolation, r.Error.Code));
        Assert.Contains("Unable to perform excessively large batch operation.", error.Results[0].Error.Reason, StringComparison.Ordinal);
        Assert.Empty((await admin.DescribeAclsAsync(AnyAcl)).AclBindings);
    }

    [Fact]
    public async Task AclApis_WithoutAnAuthorizer_AnswerSecurityDisabled()
    {
        await using var broker = await TestBroker.StartAsync();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();

        var create = await Assert.ThrowsAsync<CreateAclsException>(() => admin.CreateAclsAsync([AliceReadsOrders]));
        Assert.Equal(ErrorCode.SecurityDisabled, Assert.Single(create.Results).Error.Code);

        // librdkafka drops DescribeAcls' error code: read it off the wire.
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        Assert.Equal((short)KafkaErrorCode.SecurityDisabled, (await DescribeAllAclsAsync(client)).ErrorCode);
    }

    [Fact]
    public async Task DescribeAcls_WithoutDescribeOnTheCluster_AnswersClusterAuthorizationFailed()
    {
        await using var broker = await StartAsync();
        using (var setup = broker.SetupAdmin())
        {
            await setup.CreateAclsAsync([AliceReadsOrders]);
        }

        using var client = await RawKafkaClient.ConnectAsync(broker.ClientBootstrap);
        var refused = await DescribeAllAclsAsync(client);
        Assert.Equal((short)KafkaErrorCode.ClusterAuthorizationFailed, refused.ErrorCode);
        Assert.Empty(refused.Resources);

        using var asBroker = await RawKafkaClient.ConnectAsync(broker.SetupBootstrap);
        Assert.Single((await DescribeAllAclsAsync(asBroker)).Resources);
    }

    [Fact]
    public async Task SuperUser_IsAllowedEverything_EvenWhatADenyNames()
    {
        await using var broker = await StartAsync(o => o with { SuperUsers = new HashSet<string> { "User:ANONYMOUS" } });
        using (var setup = broker.SetupAdmin())
        {
            await setup.CreateAclsAsync([Acl(ResourceType.Topic, "*", ResourcePatternType.Literal, "User:*", AclOperation.All, AclPermissionType.Deny)]);
        }

        using var admin = broker.Admin(ClientIdentity.Anonymous);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "super", NumPartitions = 1, ReplicationFactor = 1 }]);
        using var producer = new ProducerBuilder<Null, string>(broker.Config(new ProducerConfig(), ClientIdentity.Anonymous)).Build();
        Assert.Equal(PersistenceStatus.Persisted, (await producer.ProduceAsync("super", new Message<Null, string> { Value = "v" })).Status);
        Assert.Contains("super", admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic));
    }

    [Fact]
    public async Task AllowEveryoneIfNoAclFound_OpensOnlyResourcesNoAclNames()
    {
        await using var broker = await StartAsync(o => o with { AllowEveryoneIfNoAclFound = true });
        await broker.CreateTopicsAsync("open", "guarded");
        using (var setup = broker.SetupAdmin())
        {
            await setup.CreateAclsAsync([Acl(ResourceType.Topic, "guarded", ResourcePatternType.Literal, "User:alice", AclOperation.Write)]);
        }

        using var producer = new ProducerBuilder<Null, string>(broker.Config(new ProducerConfig { MessageTimeoutMs = 20_000 }, ClientIdentity.Anonymous)).Build();
        Assert.Equal(PersistenceStatus.Persisted, (await producer.ProduceAsync("open", new Message<Null, string> { Value = "v" })).Status);
        var denied = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.ProduceAsync("guarded", new Message<Null, string> { Value = "v" }));
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, denied.Error.Code);
    }

    private static Task<DescribeAclsResponse> DescribeAllAclsAsync(RawKafkaClient client) =>
        client.CallAsync<DescribeAclsResponse>(ApiKey.DescribeAcls, 3, new DescribeAclsRequest
        {
            ResourceTypeFilter = 1,
            ResourceNameFilter = null,
            PatternTypeFilter = 1,
            PrincipalFilter = null,
            HostFilter = null,
            Operation = 1,
            PermissionType = 1,
        });

    private static AclBindingFilter Filter(ResourceType type, string? name, ResourcePatternType pattern, string? principal = null, string? host = null) => new()
    {
        PatternFilter = new ResourcePatternFilter { Type = type, Name = name, ResourcePatternType = pattern },
        EntryFilter = new AccessControlEntryFilter { Principal = principal, Host = host, Operation = AclOperation.Any, PermissionType = AclPermissionType.Any },
    };

    private static HashSet<string> Set(params AclBinding[] bindings) => [.. bindings.Select(b => b.ToString())];
}
