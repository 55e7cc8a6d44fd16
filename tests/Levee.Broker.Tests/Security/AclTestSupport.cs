using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests.Security;

/// <summary>
/// Who a client under test is: the principal the broker will see, and how a client is configured to be it. Only
/// <see cref="Anonymous"/> exists until SASL and TLS land; a SASL identity is one more instance (its principal and the
/// client settings that authenticate as it), and every ACL test written against this type runs with it unchanged.
/// </summary>
/// <param name="Principal">The principal ACLs name, e.g. <c>User:ANONYMOUS</c>.</param>
/// <param name="Configure">Sets the client's security settings (security.protocol, sasl.*, ssl.*).</param>
public sealed record ClientIdentity(string Principal, Action<ClientConfig> Configure)
{
    /// <summary>A PLAINTEXT client: <c>User:ANONYMOUS</c>.</summary>
    public static ClientIdentity Anonymous { get; } = new("User:ANONYMOUS", _ => { });

    /// <inheritdoc />
    public override string ToString() => Principal;
}

/// <summary>
/// A broker with <c>authorizer.enabled=true</c> and two listeners: the client listener, where ACLs decide, and the
/// inter-broker listener, whose connections are brokers and may do anything: the tests set up topics, groups and ACLs
/// there, as an operator would with a super user.
/// </summary>
public sealed class SecuredBroker : IAsyncDisposable
{
    private SecuredBroker(TestBroker broker) => Broker = broker;

    public TestBroker Broker { get; }

    /// <summary>The client listener: what the principal under test connects to.</summary>
    public string ClientBootstrap => Address("PLAINTEXT");

    /// <summary>The inter-broker listener: set-up that no ACL restricts.</summary>
    public string SetupBootstrap => Address("BROKER");

    public static async Task<SecuredBroker> StartAsync(Func<BrokerOptions, BrokerOptions>? configure = null)
    {
        var broker = await TestBroker.StartAsync(o =>
        {
            var secured = o with
            {
                Listeners = "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0",
                AuthorizerEnabled = true,
                GroupInitialRebalanceDelayMs = 0,
                OffsetsTopicPartitions = 1,
            };
            return configure?.Invoke(secured) ?? secured;
        });
        return new SecuredBroker(broker);
    }

    public IAdminClient SetupAdmin() => new AdminClientBuilder(new AdminClientConfig { BootstrapServers = SetupBootstrap }).Build();

    public IAdminClient Admin(ClientIdentity identity) => new AdminClientBuilder(Config(new AdminClientConfig(), identity)).Build();

    public T Config<T>(T config, ClientIdentity identity)
        where T : ClientConfig
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(identity);
        config.BootstrapServers = ClientBootstrap;
        identity.Configure(config);
        return config;
    }

    /// <summary>Replaces every ACL with <paramref name="acls"/>.</summary>
    public async Task SetAclsAsync(IReadOnlyCollection<AclBinding> acls)
    {
        using var admin = SetupAdmin();
        await admin.DeleteAclsAsync([AnyAcl]);
        if (acls.Count > 0)
        {
            await admin.CreateAclsAsync(acls);
        }
    }

    public async Task CreateTopicsAsync(params string[] topics)
    {
        using var admin = SetupAdmin();
        await admin.CreateTopicsAsync([.. topics.Select(t => new TopicSpecification { Name = t, NumPartitions = 1, ReplicationFactor = 1 })]);
    }

    /// <summary>Every ACL. (Confluent.Kafka names the cluster resource type <c>Broker</c>: Kafka's code 4.)</summary>
    public static AclBindingFilter AnyAcl { get; } = new()
    {
        PatternFilter = new ResourcePatternFilter { Type = ResourceType.Any, ResourcePatternType = ResourcePatternType.Any },
        EntryFilter = new AccessControlEntryFilter { Operation = AclOperation.Any, PermissionType = AclPermissionType.Any },
    };

    public static AclBinding Acl(ResourceType type, string name, ResourcePatternType pattern, string principal, AclOperation operation, AclPermissionType permission = AclPermissionType.Allow, string host = "*") => new()
    {
        Pattern = new ResourcePattern { Type = type, Name = name, ResourcePatternType = pattern },
        Entry = new AccessControlEntry { Principal = principal, Host = host, Operation = operation, PermissionType = permission },
    };

    public ValueTask DisposeAsync() => Broker.DisposeAsync();

    private string Address(string listener)
    {
        var endpoint = Broker.Broker.Identity.Endpoints.Single(e => e.Name == listener);
        return $"{endpoint.Host}:{endpoint.Port}";
    }
}
