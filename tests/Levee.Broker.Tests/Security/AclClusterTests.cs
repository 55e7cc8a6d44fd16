using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Broker.Tests.Tenants;
using Levee.Protocol.Messages;
using LeveeError = Levee.Protocol.ErrorCode;

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

    [Fact]
    public async Task ATenantsAclChanges_OnABrokerThatIsNotTheController_StayWithinItsOwnAcls()
    {
        await using var cluster = await TestCluster.StartAsync(3, o => o with { Listeners = "SASL_PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0", AuthorizerEnabled = true });
        var follower = cluster.Brokers.First(b => b is { IsController: false })!;
        var operatorBootstrap = Endpoint(follower, "BROKER");
        using var operatorAdmin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = operatorBootstrap }).Build();
        await operatorAdmin.AlterUserScramCredentialsAsync([new UserScramCredentialUpsertion
        {
            User = "acme-1",
            ScramCredentialInfo = new ScramCredentialInfo { Mechanism = ScramMechanism.ScramSha512, Iterations = 4096 },
            Password = Encoding.UTF8.GetBytes("pw-for-acl-cluster-tests"),
        }]);
        var (error, message) = await TenantTestExtensions.TryAlterAsync(operatorBootstrap, 100, "acme", ("plan", 0, "basic-0"), ("users", 2, "acme-1"));
        Assert.True(error == LeveeError.None, $"{error}: {message}");
        await operatorAdmin.CreateAclsAsync([Binding(ResourceType.Topic, "acme.orders", "User:ops")]);

        using var tenant = new AdminClientBuilder(new AdminClientConfig
        {
            BootstrapServers = Endpoint(follower, "SASL_PLAINTEXT"),
            SecurityProtocol = SecurityProtocol.SaslPlaintext,
            SaslMechanism = SaslMechanism.ScramSha512,
            SaslUsername = "acme-1",
            SaslPassword = "pw-for-acl-cluster-tests",
        }).Build();
        await tenant.CreateAclsAsync([Binding(ResourceType.Topic, "orders", "User:*"), Binding(ResourceType.Group, "billing", "User:acme-1")]);
        await GroupTestSupport.WaitUntilAsync(() => cluster.Brokers.All(b => b!.Replicas.Image.Acls.Count(a => a.Value.Tenant == "acme") == 2), TimeSpan.FromSeconds(30), () => "the tenant's ACLs to reach every broker");

        var deleted = await tenant.DeleteAclsAsync([new AclBindingFilter
        {
            PatternFilter = new ResourcePatternFilter { Type = ResourceType.Any, ResourcePatternType = ResourcePatternType.Any },
            EntryFilter = new AccessControlEntryFilter { Operation = AclOperation.Any, PermissionType = AclPermissionType.Any },
        }]);
        Assert.Equal(["Group billing User:acme-1", "Topic orders User:*"], deleted.Single().AclBindings.Select(a => $"{a.Pattern.Type} {a.Pattern.Name} {a.Entry.Principal}").Order());
        await GroupTestSupport.WaitUntilAsync(() => cluster.Brokers.All(b => b!.Replicas.Image.Acls.Count == 1), TimeSpan.FromSeconds(30), () => "the deletion to reach every broker");
        Assert.Equal("acme.orders", Assert.Single(follower.Replicas.Image.Acls.Values).ResourceName);
    }

    private static AclBinding Binding(ResourceType type, string name, string principal) => new()
    {
        Pattern = new ResourcePattern { Type = type, Name = name, ResourcePatternType = ResourcePatternType.Literal },
        Entry = new AccessControlEntry { Principal = principal, Host = "*", Operation = AclOperation.Read, PermissionType = AclPermissionType.Allow },
    };

    private static string Endpoint(LeveeBroker broker, string listener) =>
        broker.Identity.Endpoints.Single(e => e.Name == listener) is var e ? $"{e.Host}:{e.Port}" : "";
}
