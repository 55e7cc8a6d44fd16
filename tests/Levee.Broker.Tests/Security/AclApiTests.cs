using Confluent.Kafka;
using Confluent.Kafka.Admin;
using static Levee.Broker.Tests.Security.SecuredBroker;

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
        await using var broker = await Infrastructure.TestBroker.StartAsync();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();

        var describe = await Assert.ThrowsAsync<DescribeAclsException>(() => admin.DescribeAclsAsync(AnyAcl));
        Assert.Equal(ErrorCode.SecurityDisabled, describe.Result.Error.Code);
        var create = await Assert.ThrowsAsync<CreateAclsException>(() => admin.CreateAclsAsync([AliceReadsOrders]));
        Assert.Equal(ErrorCode.SecurityDisabled, Assert.Single(create.Results).Error.Code);
    }

    private static AclBindingFilter Filter(ResourceType type, string? name, ResourcePatternType pattern, string? principal = null, string? host = null) => new()
    {
        PatternFilter = new ResourcePatternFilter { Type = type, Name = name, ResourcePatternType = pattern },
        EntryFilter = new AccessControlEntryFilter { Principal = principal, Host = host, Operation = AclOperation.Any, PermissionType = AclPermissionType.Any },
    };

    private static HashSet<string> Set(params AclBinding[] bindings) => [.. bindings.Select(b => b.ToString())];
}
