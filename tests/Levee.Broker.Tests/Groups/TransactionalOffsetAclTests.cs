using Levee.Broker.Security;
using Levee.Broker.Tests.Infrastructure;
using Levee.Broker.Tests.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Groups.GroupTestSupport;

namespace Levee.Broker.Tests.Groups;

/// <summary>
/// TxnOffsetCommit's ACLs, in Kafka's order: WRITE on the transactional id, READ on the group (each fails the whole
/// request), then READ on each topic (a denied topic's partitions fail, the others are committed).
/// </summary>
public sealed class TransactionalOffsetAclTests : IAsyncLifetime
{
    private const string Principal = "User:ANONYMOUS";

    private SecuredBroker _secured = null!;

    public async Task InitializeAsync()
    {
        // The commits come from a producer no transaction coordinator knows: KIP-890's verification is off here.
        _secured = await SecuredBroker.StartAsync(o => o with { TransactionPartitionVerificationEnable = false });
        await _secured.CreateTopicsAsync("orders", "payments");
    }

    public async Task DisposeAsync() => await _secured.DisposeAsync();

    [Fact]
    public async Task WithoutWriteOnTheTransactionalId_EveryPartitionIsTransactionalIdAuthorizationFailed()
    {
        await AllowAsync((AclResourceType.Group, "app", AclOperation.Read), (AclResourceType.Topic, "orders", AclOperation.Read), (AclResourceType.Topic, "payments", AclOperation.Read));
        var errors = await CommitBothAsync();
        Assert.Equal([ErrorCode.TransactionalIdAuthorizationFailed, ErrorCode.TransactionalIdAuthorizationFailed], errors.Values);
    }

    [Fact]
    public async Task WithoutReadOnTheGroup_EveryPartitionIsGroupAuthorizationFailed()
    {
        await AllowAsync((AclResourceType.TransactionalId, "txn", AclOperation.Write), (AclResourceType.Topic, "orders", AclOperation.Read), (AclResourceType.Topic, "payments", AclOperation.Read));
        var errors = await CommitBothAsync();
        Assert.Equal([ErrorCode.GroupAuthorizationFailed, ErrorCode.GroupAuthorizationFailed], errors.Values);
    }

    [Fact]
    public async Task ATopicWithoutRead_IsTopicAuthorizationFailed_AndTheOtherIsCommitted()
    {
        await AllowAsync((AclResourceType.TransactionalId, "txn", AclOperation.Write), (AclResourceType.Group, "app", AclOperation.Read), (AclResourceType.Topic, "orders", AclOperation.Read));
        var errors = await CommitBothAsync();
        Assert.Equal(ErrorCode.None, errors["orders"]);
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, errors["payments"]);
    }

    /// <summary>A TxnOffsetCommit of orders-0 and payments-0 by the principal under test: each topic's error.</summary>
    private async Task<Dictionary<string, ErrorCode>> CommitBothAsync()
    {
        using var client = await RawKafkaClient.ConnectAsync(_secured.ClientBootstrap);
        var response = await client.CallAsync<TxnOffsetCommitResponse>(ApiKey.TxnOffsetCommit, 3, new TxnOffsetCommitRequest
        {
            TransactionalId = "txn",
            GroupId = "app",
            ProducerId = 1,
            ProducerEpoch = 0,
            Topics =
            [
                .. new[] { "orders", "payments" }.Select(t => new TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic
                {
                    Name = t,
                    Partitions = [new TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition { PartitionIndex = 0, CommittedOffset = 1 }],
                }),
            ],
        });
        return response.Topics.OrderBy(t => t.Name, StringComparer.Ordinal).ToDictionary(t => t.Name, t => (ErrorCode)t.Partitions.Single().ErrorCode);
    }

    /// <summary>Creates literal ALLOW ACLs for the principal under test, from the unrestricted listener, and waits until this broker has them.</summary>
    private async Task AllowAsync(params (AclResourceType Type, string Name, AclOperation Operation)[] acls)
    {
        using var setup = await RawKafkaClient.ConnectAsync(_secured.SetupBootstrap);
        var created = await setup.CallAsync<CreateAclsResponse>(ApiKey.CreateAcls, 3, new CreateAclsRequest
        {
            Creations =
            [
                .. acls.Select(a => new CreateAclsRequest.AclCreation
                {
                    ResourceType = (sbyte)a.Type,
                    ResourceName = a.Name,
                    ResourcePatternType = 3,
                    Principal = Principal,
                    Host = "*",
                    Operation = (sbyte)a.Operation,
                    PermissionType = 3,
                }),
            ],
        });
        Assert.All(created.Results, r => Assert.Equal(0, r.ErrorCode));
        await WaitUntilAsync(() => _secured.Broker.Broker.Replicas.Image.Acls.Count == acls.Length, TimeSpan.FromSeconds(30), () => "the ACLs to reach the broker's image");
    }
}
