using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using LeveeError = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Tenants;

/// <summary>
/// A tenant's own ACLs, managed with Confluent.Kafka's admin client in the tenant's names: they restrict the tenant's
/// users within its namespace; the operators' ACLs, wildcards included, never apply to a tenant, and a tenant's never
/// to anyone else; each tenant sees and deletes only its own; operators see them under the stored names.
/// </summary>
public sealed class TenantAclTests : IAsyncLifetime
{
    private const string Password = "pw-for-tenant-acl-tests";
    private const sbyte TenantType = 100;
    private const sbyte Set = 0;
    private const sbyte Append = 2;
    private const sbyte Subtract = 3;
    private TestBroker _broker = null!;

    private string Operator => Address("BROKER");

    public async Task InitializeAsync()
    {
        _broker = await TestBroker.StartAsync(o => o with
        {
            Listeners = "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0",
            AutoCreateTopics = false,
            AuthorizerEnabled = true,
            GroupInitialRebalanceDelayMs = 0,
        });
        using var admin = OperatorAdmin();
        await admin.AlterUserScramCredentialsAsync(new[] { "acme-1", "acme-2", "globex-1" }.Select(u => (UserScramCredentialAlteration)new UserScramCredentialUpsertion
        {
            User = u,
            ScramCredentialInfo = new ScramCredentialInfo { Mechanism = ScramMechanism.ScramSha512, Iterations = 4096 },
            Password = Encoding.UTF8.GetBytes(Password),
        }));
        await AlterTenantAsync("acme", ("plan", Set, "basic-0"), ("users", Append, "acme-1,acme-2"));
        await AlterTenantAsync("globex", ("plan", Set, "basic-0"), ("users", Append, "globex-1"));
    }

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task ATenantsAcls_RestrictItsUsers_AndNoOperatorWildcardAppliesEitherWay()
    {
        using var acme = Admin("acme-1");
        await acme.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 1, ReplicationFactor = 1 }]);
        using var globex = Admin("globex-1");
        await globex.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 1, ReplicationFactor = 1 }]);

        // The operators' ACLs: everyone may do anything on every topic and group, but no one may write to acme's topics.
        using (var admin = OperatorAdmin())
        {
            await admin.CreateAclsAsync(
            [
                Acl(ResourceType.Topic, "*", ResourcePatternType.Literal, "User:*", AclOperation.All),
                Acl(ResourceType.Group, "*", ResourcePatternType.Literal, "User:*", AclOperation.All),
                Acl(ResourceType.Topic, "acme.", ResourcePatternType.Prefixed, "User:*", AclOperation.Write, AclPermissionType.Deny),
            ]);
        }

        // acme's own: acme-1 may do anything on its topics and manage its ACLs; acme-2 may only read orders in billing.
        await acme.CreateAclsAsync(
        [
            Acl(ResourceType.Topic, "*", ResourcePatternType.Literal, "User:acme-1", AclOperation.All),
            Acl(ResourceType.Broker, "kafka-cluster", ResourcePatternType.Literal, "User:acme-1", AclOperation.Alter),
            Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "User:acme-2", AclOperation.Read),
            Acl(ResourceType.Group, "billing", ResourcePatternType.Literal, "User:*", AclOperation.Read),
        ]);

        // The operators' DENY on acme.* does not stop acme-1; their ALLOW on every topic does not let acme-2 write.
        await ProduceAsync("acme-1", "orders", "from acme-1");
        var denied = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => ProduceAsync("acme-2", "orders", "from acme-2"));
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, denied.Error.Code);
        Assert.Equal(["from acme-1"], TenantTestExtensions.ConsumeAndCommit(Config("acme-2"), "orders", "billing", 1));

        // acme-2 may not manage acme's ACLs now that the cluster resource has ACLs of acme's; globex never sees them.
        using var acme2 = Admin("acme-2");
        var refused = await Assert.ThrowsAsync<CreateAclsException>(() => acme2.CreateAclsAsync([Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "User:acme-2", AclOperation.Write)]));
        Assert.Equal(ErrorCode.ClusterAuthorizationFailed, refused.Results.Single().Error.Code);
        Assert.Empty((await globex.DescribeAclsAsync(AnyAcl)).AclBindings);

        // acme's ACLs apply to no one else: globex has none, so its user writes to its own orders.
        await ProduceAsync("globex-1", "orders", "from globex");

        // An anonymous client of the operators is held by the operators' DENY on acme's topics, not helped by acme's ALLOWs.
        using var anonymous = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = Address("PLAINTEXT"), MessageTimeoutMs = 5000 }).Build();
        var anonymousDenied = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => anonymous.ProduceAsync("acme.orders", new Message<Null, string> { Value = "anonymous" }));
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, anonymousDenied.Error.Code);
    }

    [Fact]
    public async Task ATenant_DescribesAndDeletes_OnlyItsOwnAcls_InItsOwnNames_AndOperatorsSeeStoredNames()
    {
        using (var admin = OperatorAdmin())
        {
            await admin.CreateAclsAsync([Acl(ResourceType.Topic, "acme.orders", ResourcePatternType.Literal, "User:ops", AclOperation.Read)]);
        }

        using var acme = Admin("acme-1");
        await acme.CreateAclsAsync(
        [
            Acl(ResourceType.Topic, "*", ResourcePatternType.Literal, "User:*", AclOperation.Describe),
            Acl(ResourceType.Topic, "ord", ResourcePatternType.Prefixed, "User:acme-2", AclOperation.Read),
            Acl(TransactionalId, "tx", ResourcePatternType.Literal, "User:acme-1", AclOperation.Write),
        ]);
        using var globex = Admin("globex-1");
        await globex.CreateAclsAsync([Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "User:globex-1", AclOperation.Write)]);

        var own = (await acme.DescribeAclsAsync(AnyAcl)).AclBindings.Select(Text).Order().ToList();
        Assert.Equal(["5 tx Literal User:acme-1 Write Allow", "Topic * Literal User:* Describe Allow", "Topic ord Prefixed User:acme-2 Read Allow"], own);

        // Kafka's MATCH filter, in the tenant's names: every ACL of acme's that applies to its topic "orders".
        var match = new AclBindingFilter { PatternFilter = new ResourcePatternFilter { Type = ResourceType.Topic, Name = "orders", ResourcePatternType = ResourcePatternType.Match }, EntryFilter = AnyAcl.EntryFilter };
        Assert.Equal(["Topic * Literal User:* Describe Allow", "Topic ord Prefixed User:acme-2 Read Allow"], (await acme.DescribeAclsAsync(match)).AclBindings.Select(Text).Order());

        using (var admin = OperatorAdmin())
        {
            var stored = (await admin.DescribeAclsAsync(AnyAcl)).AclBindings.Select(Text).Order().ToList();
            Assert.Equal(
                [
                    "5 acme.tx Literal User:acme-1 Write Allow",
                    "Topic acme. Prefixed Tenant:acme Describe Allow",
                    "Topic acme.ord Prefixed User:acme-2 Read Allow",
                    "Topic acme.orders Literal User:ops Read Allow",
                    "Topic globex.orders Literal User:globex-1 Write Allow",
                ],
                stored);
        }

        // Deleting everything acme may name removes acme's ACLs, not the operators' on acme's topic, nor globex's.
        var deleted = await acme.DeleteAclsAsync([AnyAcl]);
        Assert.Equal(own, deleted.Single().AclBindings.Select(Text).Order());
        using (var admin = OperatorAdmin())
        {
            Assert.Equal(
                ["Topic acme.orders Literal User:ops Read Allow", "Topic globex.orders Literal User:globex-1 Write Allow"],
                (await admin.DescribeAclsAsync(AnyAcl)).AclBindings.Select(Text).Order());
        }
    }

    [Fact]
    public async Task ATenant_NamesOnlyItsOwnPrincipals_AndOperatorsOnlyATenantsResourcesForItsPrincipals()
    {
        using var acme = Admin("acme-1");
        var refused = await Assert.ThrowsAsync<CreateAclsException>(() => acme.CreateAclsAsync(
        [
            Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "User:globex-1", AclOperation.Read),
            Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "User:acme-2", AclOperation.Read),
            Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "Tenant:globex", AclOperation.Read),
        ]));
        Assert.Equal([ErrorCode.InvalidRequest, ErrorCode.NoError, ErrorCode.InvalidRequest], refused.Results.Select(r => r.Error.Code));
        Assert.DoesNotContain("globex", refused.Results[0].Error.Reason.Replace("User:globex-1", "", StringComparison.Ordinal), StringComparison.Ordinal);

        // An operator's ACL naming a tenant's principal is that tenant's: on its resources only.
        using var admin = OperatorAdmin();
        var outside = await Assert.ThrowsAsync<CreateAclsException>(() => admin.CreateAclsAsync([Acl(ResourceType.Topic, "globex.orders", ResourcePatternType.Literal, "User:acme-2", AclOperation.Read)]));
        Assert.Equal(ErrorCode.InvalidRequest, outside.Results.Single().Error.Code);
        await admin.CreateAclsAsync([Acl(ResourceType.Group, "acme.billing", ResourcePatternType.Literal, "User:acme-2", AclOperation.Read)]);
        Assert.Equal(
            ["Group billing Literal User:acme-2 Read Allow", "Topic orders Literal User:acme-2 Read Allow"],
            (await acme.DescribeAclsAsync(AnyAcl)).AclBindings.Select(Text).Order());
    }

    [Fact]
    public async Task RevokingAUser_RemovesTheTenantsAclsNamingIt()
    {
        using var acme = Admin("acme-1");
        await acme.CreateAclsAsync(
        [
            Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "User:acme-2", AclOperation.Read),
            Acl(ResourceType.Topic, "orders", ResourcePatternType.Literal, "User:*", AclOperation.Describe),
        ]);

        await AlterTenantAsync("acme", ("users", Subtract, "acme-2"));

        using var admin = OperatorAdmin();
        Assert.Equal(["Topic acme.orders Literal Tenant:acme Describe Allow"], (await admin.DescribeAclsAsync(AnyAcl)).AclBindings.Select(Text));
    }

    // Kafka's TRANSACTIONAL_ID resource type (5), which Confluent.Kafka's enum does not name (its Broker, 4, is Kafka's CLUSTER).
    private const ResourceType TransactionalId = (ResourceType)5;

    private static readonly AclBindingFilter AnyAcl = new()
    {
        PatternFilter = new ResourcePatternFilter { Type = ResourceType.Any, ResourcePatternType = ResourcePatternType.Any },
        EntryFilter = new AccessControlEntryFilter { Operation = AclOperation.Any, PermissionType = AclPermissionType.Any },
    };

    private static AclBinding Acl(ResourceType type, string name, ResourcePatternType pattern, string principal, AclOperation operation, AclPermissionType permission = AclPermissionType.Allow) => new()
    {
        Pattern = new ResourcePattern { Type = type, Name = name, ResourcePatternType = pattern },
        Entry = new AccessControlEntry { Principal = principal, Host = "*", Operation = operation, PermissionType = permission },
    };

    private static string Text(AclBinding acl) =>
        $"{acl.Pattern.Type} {acl.Pattern.Name} {acl.Pattern.ResourcePatternType} {acl.Entry.Principal} {acl.Entry.Operation} {acl.Entry.PermissionType}";

    private async Task ProduceAsync(string user, string topic, string value)
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig(Config(user)) { MessageTimeoutMs = 5000 }).Build();
        await producer.ProduceAsync(topic, new Message<Null, string> { Value = value });
    }

    private async Task AlterTenantAsync(string name, params (string Key, sbyte Op, string? Value)[] changes)
    {
        var (error, message) = await TenantTestExtensions.TryAlterAsync(Operator, TenantType, name, changes);
        Assert.True(error == LeveeError.None, $"{error}: {message}");
    }

    private IAdminClient OperatorAdmin() => new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Operator }).Build();

    private IAdminClient Admin(string user) => new AdminClientBuilder(Config(user)).Build();

    private string Address(string listener) =>
        _broker.Broker.Identity.Endpoints.Single(e => e.Name == listener) is var e ? $"{e.Host}:{e.Port}" : "";

    private ClientConfig Config(string user) => new()
    {
        BootstrapServers = Address("SASL_PLAINTEXT"),
        SecurityProtocol = SecurityProtocol.SaslPlaintext,
        SaslMechanism = SaslMechanism.ScramSha512,
        SaslUsername = user,
        SaslPassword = Password,
    };
}
