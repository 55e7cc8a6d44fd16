using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Security;

/// <summary>ACL changes are controller decisions: a broker that is not the controller forwards them, and every broker applies them.</summary>
public sealed class AclClusterTests
{
    [Fact]
    public async Task CreateAndDeleteAcls_OnABrokerThatIsNotTheController_AreForwardedAndReachEveryBroker()
    {
        await using var cluster = await TestCluster.StartAsync(3, o => o with { AuthorizerEnabled = true, SuperUsers = new HashSet<string> { "User:ANONYMOUS" } });
        var follower = cluster.Brokers.First(b => b is { IsController: false })!;
        using var client = await RawKafkaClient.ConnectAsync(follower.BootstrapServers);

        var created = await client.CallAsync<CreateAclsResponse>(ApiKey.CreateAcls, 3, new CreateAclsRequest
        {
            Creations = [new CreateAclsRequest.AclCreation { ResourceType = 2, ResourceName = "t", ResourcePatternType = 3, Principal = "User:alice", Host = "*", Operation = 3, PermissionType = 3 }],
        });
        Assert.Equal(0, Assert.Single(created.Results).ErrorCode);
        await GroupTestSupport.WaitUntilAsync(() => cluster.Brokers.All(b => b!.Replicas.Image.Acls.Count == 1), TimeSpan.FromSeconds(30), () => "the ACL to reach every broker");

        var deleted = await client.CallAsync<DeleteAclsResponse>(ApiKey.DeleteAcls, 3, new DeleteAclsRequest
        {
            Filters = [new DeleteAclsRequest.DeleteAclsFilter { ResourceTypeFilter = 1, ResourceNameFilter = null, PatternTypeFilter = 1, PrincipalFilter = "User:alice", HostFilter = null, Operation = 1, PermissionType = 1 }],
        });
        var result = Assert.Single(deleted.FilterResults);
        Assert.Equal(0, result.ErrorCode);
        Assert.Equal("t", Assert.Single(result.MatchingAcls).ResourceName);
        await GroupTestSupport.WaitUntilAsync(() => cluster.Brokers.All(b => b!.Replicas.Image.Acls.IsEmpty), TimeSpan.FromSeconds(30), () => "the deletion to reach every broker");
    }
}
