using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using static Levee.Broker.Tests.Security.SecuredBroker;

namespace Levee.Broker.Tests.Security;

/// <summary>A broker with the authorizer on, two topics with a record each, shared by the cases of the matrix.</summary>
public sealed class AclMatrixBroker : IAsyncLifetime
{
    public const string Orders = "orders-1";
    public const string Payments = "payments";

    public SecuredBroker Secured { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Secured = await StartAsync();
        await Secured.CreateTopicsAsync(Orders, Payments);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = Secured.SetupBootstrap }).Build();
        foreach (var topic in new[] { Orders, Payments })
        {
            await producer.ProduceAsync(topic, new Message<Null, string> { Value = "v" });
        }
    }

    public async Task DisposeAsync() => await Secured.DisposeAsync();
}

/// <summary>
/// Issue 10's ACL matrix: for each case, the principal under test holds exactly the case's ACLs, performs one
/// operation with a real client, and gets Kafka's answer. The principal is <see cref="Identity"/>: today the only one
/// a plain client has, <c>User:ANONYMOUS</c>; with SASL, point it at a SASL identity and the same cases run over it.
/// </summary>
public sealed class AclMatrixTests(AclMatrixBroker fixture) : IClassFixture<AclMatrixBroker>
{
    private static readonly ClientIdentity Identity = ClientIdentity.Anonymous;
    private static readonly TimeSpan OutcomeTimeout = TimeSpan.FromSeconds(30);

    private SecuredBroker Broker => fixture.Secured;

    /// <summary>The ACLs of a case, for the principal under test.</summary>
    private static AclBinding[] ReadOrdersPrefix(string p) =>
    [
        Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.Read),
        Acl(ResourceType.Group, "orders-", ResourcePatternType.Prefixed, p, AclOperation.Read),
    ];

    private static readonly Dictionary<string, (Func<string, AclBinding[]> Acls, Func<AclMatrixTests, Task<ErrorCode>> Operation, ErrorCode Expected)> Cases = new()
    {
        // Only READ on the prefix orders- (topics and groups): consumes those topics and nothing else.
        ["read orders-*: consume orders-1 in group orders-app"] = (ReadOrdersPrefix, t => t.ConsumeAsync(AclMatrixBroker.Orders, "orders-app"), ErrorCode.NoError),
        ["read orders-*: consume payments"] = (ReadOrdersPrefix, t => t.ConsumeAsync(AclMatrixBroker.Payments, "orders-app"), ErrorCode.TopicAuthorizationFailed),
        ["read orders-*: consume orders-1 in group other-app"] = (ReadOrdersPrefix, t => t.ConsumeAsync(AclMatrixBroker.Orders, "other-app"), ErrorCode.GroupAuthorizationFailed),
        ["read orders-*: produce to orders-1"] = (ReadOrdersPrefix, t => t.ProduceAsync(AclMatrixBroker.Orders), ErrorCode.TopicAuthorizationFailed),
        ["read orders-*: create topic orders-new"] = (ReadOrdersPrefix, t => t.CreateTopicAsync("orders-new"), ErrorCode.TopicAuthorizationFailed),
        ["read orders-*: delete topic orders-old"] = (ReadOrdersPrefix, t => t.DeleteTopicAsync("orders-old"), ErrorCode.TopicAuthorizationFailed),
        ["read orders-*: describe topic orders-1 (READ implies DESCRIBE)"] = (ReadOrdersPrefix, t => t.DescribeTopicAsync(AclMatrixBroker.Orders), ErrorCode.NoError),
        ["read orders-*: describe topic payments"] = (ReadOrdersPrefix, t => t.DescribeTopicAsync(AclMatrixBroker.Payments), ErrorCode.TopicAuthorizationFailed),
        ["read orders-*: describe configs of orders-1"] = (ReadOrdersPrefix, t => t.DescribeConfigsAsync(AclMatrixBroker.Orders), ErrorCode.TopicAuthorizationFailed),
        ["read orders-*: describe group orders-app"] = (ReadOrdersPrefix, t => t.DescribeGroupAsync("orders-app"), ErrorCode.NoError),
        ["read orders-*: delete group orders-app"] = (ReadOrdersPrefix, t => t.DeleteGroupAsync("orders-app"), ErrorCode.GroupAuthorizationFailed),
        ["read orders-*: create an ACL"] = (ReadOrdersPrefix, t => t.CreateAclAsync(), ErrorCode.ClusterAuthorizationFailed),

        // No ACL at all (allow.everyone.if.no.acl.found is false): nothing.
        ["no ACLs: produce to payments"] = (_ => [], t => t.ProduceAsync(AclMatrixBroker.Payments), ErrorCode.TopicAuthorizationFailed),
        ["no ACLs: consume payments"] = (_ => [], t => t.ConsumeAsync(AclMatrixBroker.Payments, "payments-app"), ErrorCode.GroupAuthorizationFailed),
        ["no ACLs: describe group"] = (_ => [], t => t.DescribeGroupAsync("payments-app"), ErrorCode.GroupAuthorizationFailed),
        ["no ACLs: delete ACLs"] = (_ => [], t => t.DeleteAclsAsync(), ErrorCode.ClusterAuthorizationFailed),

        // Each operation allowed by its own ACL.
        ["write payments: produce to payments"] = (p => [Acl(ResourceType.Topic, AclMatrixBroker.Payments, ResourcePatternType.Literal, p, AclOperation.Write)], t => t.ProduceAsync(AclMatrixBroker.Payments), ErrorCode.NoError),
        ["write payments: produce to orders-1"] = (p => [Acl(ResourceType.Topic, AclMatrixBroker.Payments, ResourcePatternType.Literal, p, AclOperation.Write)], t => t.ProduceAsync(AclMatrixBroker.Orders), ErrorCode.TopicAuthorizationFailed),
        ["create on the cluster: create any topic"] = (p => [Acl(ResourceType.Broker, "kafka-cluster", ResourcePatternType.Literal, p, AclOperation.Create)], t => t.CreateTopicAsync("any-" + Guid.NewGuid().ToString("N")), ErrorCode.NoError),
        ["create orders-*: create topic orders-2"] = (p => [Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.Create)], t => t.CreateTopicAsync("orders-" + Guid.NewGuid().ToString("N")), ErrorCode.NoError),
        ["create orders-*: create topic invoices"] = (p => [Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.Create)], t => t.CreateTopicAsync("invoices"), ErrorCode.TopicAuthorizationFailed),
        ["delete orders-*: delete topic orders-old"] = (p => [Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.Delete)], t => t.DeleteTopicAsync("orders-old"), ErrorCode.NoError),
        ["alter orders-1: add partitions"] = (p => [Acl(ResourceType.Topic, AclMatrixBroker.Orders, ResourcePatternType.Literal, p, AclOperation.Alter)], t => t.CreatePartitionsAsync("orders-grow"), ErrorCode.TopicAuthorizationFailed),
        ["alter orders-*: add partitions"] = (p => [Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.Alter)], t => t.CreatePartitionsAsync("orders-grow"), ErrorCode.NoError),
        ["describe-configs orders-*: describe configs of orders-1"] = (p => [Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.DescribeConfigs)], t => t.DescribeConfigsAsync(AclMatrixBroker.Orders), ErrorCode.NoError),
        ["describe group *: describe group x"] = (p => [Acl(ResourceType.Group, "*", ResourcePatternType.Literal, p, AclOperation.Describe)], t => t.DescribeGroupAsync("x"), ErrorCode.NoError),
        ["describe group *: delete group x"] = (p => [Acl(ResourceType.Group, "*", ResourcePatternType.Literal, p, AclOperation.Describe)], t => t.DeleteGroupAsync("x"), ErrorCode.GroupAuthorizationFailed),
        ["delete group *: delete group x (passes authorization, unknown group)"] = (p => [Acl(ResourceType.Group, "*", ResourcePatternType.Literal, p, AclOperation.Delete)], t => t.DeleteGroupAsync("x"), ErrorCode.GroupIdNotFound),
        ["alter on the cluster: create an ACL"] = (p => [Acl(ResourceType.Broker, "kafka-cluster", ResourcePatternType.Literal, p, AclOperation.Alter)], t => t.CreateAclAsync(), ErrorCode.NoError),
        ["read orders-*: elect leaders"] = (ReadOrdersPrefix, t => t.ElectLeadersAsync(), ErrorCode.ClusterAuthorizationFailed),
        ["alter on the cluster: elect the preferred leader, already leading"] = (p => [Acl(ResourceType.Broker, "kafka-cluster", ResourcePatternType.Literal, p, AclOperation.Alter)], t => t.ElectLeadersAsync(), ErrorCode.ElectionNotNeeded),

        // An idempotent producer's InitProducerId needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
        ["write payments: produce idempotently to payments"] = (p => [Acl(ResourceType.Topic, AclMatrixBroker.Payments, ResourcePatternType.Literal, p, AclOperation.Write)], t => t.ProduceAsync(AclMatrixBroker.Payments, idempotent: true), ErrorCode.NoError),
        ["read orders-*: produce idempotently to orders-1"] = (ReadOrdersPrefix, t => t.ProduceAsync(AclMatrixBroker.Orders, idempotent: true), ErrorCode.ClusterAuthorizationFailed),

        // A DENY overrides an ALLOW.
        ["all topics but write denied on orders-1: produce to orders-1"] = (AllButWriteOrders, t => t.ProduceAsync(AclMatrixBroker.Orders), ErrorCode.TopicAuthorizationFailed),
        ["all topics but write denied on orders-1: produce to payments"] = (AllButWriteOrders, t => t.ProduceAsync(AclMatrixBroker.Payments), ErrorCode.NoError),
        ["read orders-* but denied to everyone: consume orders-1"] = (p => [.. ReadOrdersPrefix(p), Acl(ResourceType.Topic, AclMatrixBroker.Orders, ResourcePatternType.Literal, "User:*", AclOperation.Read, AclPermissionType.Deny)], t => t.ConsumeAsync(AclMatrixBroker.Orders, "orders-app"), ErrorCode.TopicAuthorizationFailed),

        // An ACL for another host does not apply.
        ["write payments from another host: produce to payments"] = (p => [Acl(ResourceType.Topic, AclMatrixBroker.Payments, ResourcePatternType.Literal, p, AclOperation.Write, host: "10.255.0.1")], t => t.ProduceAsync(AclMatrixBroker.Payments), ErrorCode.TopicAuthorizationFailed),
    };

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Matrix(string name)
    {
        var (acls, operation, expected) = Cases[name];
        await Broker.SetAclsAsync(acls(Identity.Principal));
        Assert.Equal(expected, await operation(this));
    }

    [Fact]
    public async Task Metadata_LeavesOutTopicsThePrincipalMayNotDescribe()
    {
        await Broker.SetAclsAsync(ReadOrdersPrefix(Identity.Principal));
        using var admin = Broker.Admin(Identity);
        var topics = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic).ToList();
        Assert.Contains(AclMatrixBroker.Orders, topics);
        Assert.DoesNotContain(AclMatrixBroker.Payments, topics);
    }

    [Fact]
    public async Task ListGroups_LeavesOutGroupsThePrincipalMayNotDescribe()
    {
        foreach (var group in new[] { "orders-listed", "payments-hidden" })
        {
            using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Broker.SetupBootstrap, GroupId = group }).Build();
            consumer.Commit([new TopicPartitionOffset(AclMatrixBroker.Orders, 0, 1)]);
        }

        await Broker.SetAclsAsync(ReadOrdersPrefix(Identity.Principal));
        using var admin = Broker.Admin(Identity);
        var groups = (await admin.ListConsumerGroupsAsync()).Valid.Select(g => g.GroupId).ToList();
        Assert.Contains("orders-listed", groups);
        Assert.DoesNotContain("payments-hidden", groups);
    }

    [Fact]
    public async Task AuthorizedOperations_OfTopicsGroupsAndTheCluster_AreThoseTheAclsAllow()
    {
        using (var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Broker.SetupBootstrap, GroupId = "orders-described" }).Build())
        {
            consumer.Commit([new TopicPartitionOffset(AclMatrixBroker.Orders, 0, 1)]);
        }

        var p = Identity.Principal;
        await Broker.SetAclsAsync([
            .. ReadOrdersPrefix(p),
            Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.DescribeConfigs),
            Acl(ResourceType.Broker, "kafka-cluster", ResourcePatternType.Literal, p, AclOperation.Describe),
            Acl(ResourceType.Broker, "kafka-cluster", ResourcePatternType.Literal, p, AclOperation.IdempotentWrite),
        ]);
        using var admin = Broker.Admin(Identity);

        // Metadata v10+ with include_topic_authorized_operations; READ implies DESCRIBE.
        var topics = await admin.DescribeTopicsAsync(TopicCollection.OfTopicNames([AclMatrixBroker.Orders]), new DescribeTopicsOptions { IncludeAuthorizedOperations = true });
        Assert.Equal([AclOperation.Read, AclOperation.Describe, AclOperation.DescribeConfigs], Sorted(topics.TopicDescriptions.Single().AuthorizedOperations));

        // DescribeCluster with include_cluster_authorized_operations.
        var cluster = await admin.DescribeClusterAsync(new DescribeClusterOptions { IncludeAuthorizedOperations = true });
        Assert.Equal([AclOperation.Describe, AclOperation.IdempotentWrite], Sorted(cluster.AuthorizedOperations));

        // DescribeGroups with include_authorized_operations: READ (and so DESCRIBE) on the orders- groups, not DELETE.
        var groups = await admin.DescribeConsumerGroupsAsync(["orders-described"], new DescribeConsumerGroupsOptions { IncludeAuthorizedOperations = true });
        Assert.Equal([AclOperation.Read, AclOperation.Describe], Sorted(groups.ConsumerGroupDescriptions.Single().AuthorizedOperations));

        // Without DESCRIBE on the cluster, Kafka answers no operation at all.
        await Broker.SetAclsAsync(ReadOrdersPrefix(p));
        var hidden = await admin.DescribeClusterAsync(new DescribeClusterOptions { IncludeAuthorizedOperations = true });
        Assert.Empty(hidden.AuthorizedOperations ?? []);
    }

    [Fact]
    public async Task CreateTopics_WithoutDescribeConfigs_CreatesTheTopic_ButWithholdsItsConfigs()
    {
        var p = Identity.Principal;
        await Broker.SetAclsAsync([Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.Create)]);
        var withheld = await CreateRawAsync("orders-withheld-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(ErrorCode.NoError, (ErrorCode)withheld.ErrorCode);
        Assert.NotEqual(Guid.Empty, withheld.TopicId);
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, (ErrorCode)withheld.TopicConfigErrorCode);
        Assert.Equal(-1, withheld.NumPartitions);
        Assert.Empty(withheld.Configs ?? []);

        await Broker.SetAclsAsync([
            Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.Create),
            Acl(ResourceType.Topic, "orders-", ResourcePatternType.Prefixed, p, AclOperation.DescribeConfigs),
        ]);
        var shown = await CreateRawAsync("orders-shown-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(ErrorCode.NoError, (ErrorCode)shown.TopicConfigErrorCode);
        Assert.Equal(2, shown.NumPartitions);
        Assert.Contains(shown.Configs!, c => c.Name == "cleanup.policy");
    }

    private async Task<Levee.Protocol.Messages.CreateTopicsResponse.CreatableTopicResult> CreateRawAsync(string topic)
    {
        using var client = await RawKafkaClient.ConnectAsync(Broker.ClientBootstrap);
        var create = new Levee.Protocol.Messages.CreateTopicsRequest { TimeoutMs = 30_000 };
        create.Topics.Add(new() { Name = topic, NumPartitions = 2, ReplicationFactor = 1 });
        var created = await client.CallAsync<Levee.Protocol.Messages.CreateTopicsResponse>(Levee.Protocol.Messages.ApiKey.CreateTopics, 7, create);
        return created.Topics.Single();
    }

    private static AclOperation[] Sorted(IEnumerable<AclOperation>? operations) => [.. (operations ?? []).Order()];

    private static AclBinding[] AllButWriteOrders(string p) =>
    [
        Acl(ResourceType.Topic, "*", ResourcePatternType.Literal, p, AclOperation.All),
        Acl(ResourceType.Topic, AclMatrixBroker.Orders, ResourcePatternType.Literal, p, AclOperation.Write, AclPermissionType.Deny),
    ];

    private async Task<ErrorCode> ProduceAsync(string topic, bool idempotent = false)
    {
        // An idempotent producer refused its producer id fails fatally: its messages are purged, the cause is the fatal error.
        Error? fatal = null;
        using var producer = new ProducerBuilder<Null, string>(Broker.Config(new ProducerConfig { MessageTimeoutMs = 20_000, EnableIdempotence = idempotent }, Identity))
            .SetErrorHandler((_, e) => fatal = e.IsFatal ? e : fatal)
            .Build();
        try
        {
            await producer.ProduceAsync(topic, new Message<Null, string> { Value = "x" });
            return ErrorCode.NoError;
        }
        catch (ProduceException<Null, string> ex)
        {
            return fatal?.Code ?? ex.Error.Code;
        }
    }

    private Task<ErrorCode> ConsumeAsync(string topic, string group) => Task.Run(() =>
    {
        var config = Broker.Config(new ConsumerConfig { GroupId = group, AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false }, Identity);
        using var consumer = new ConsumerBuilder<Ignore, string>(config).Build();
        consumer.Subscribe(topic);
        var deadline = DateTime.UtcNow + OutcomeTimeout;
        try
        {
            while (DateTime.UtcNow < deadline)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { Message: not null })
                {
                    return ErrorCode.NoError;
                }
            }
        }
        catch (ConsumeException ex)
        {
            return ex.Error.Code;
        }
        finally
        {
            consumer.Close();
        }

        throw new TimeoutException($"Consuming {topic} in group {group} neither read a record nor failed within {OutcomeTimeout}.");
    });

    private async Task<ErrorCode> CreateTopicAsync(string topic)
    {
        using var admin = Broker.Admin(Identity);
        try
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
            return ErrorCode.NoError;
        }
        catch (CreateTopicsException ex)
        {
            return Assert.Single(ex.Results).Error.Code;
        }
    }

    private async Task<ErrorCode> DeleteTopicAsync(string topic)
    {
        await Broker.CreateTopicsAsync(topic);
        using var admin = Broker.Admin(Identity);
        try
        {
            await admin.DeleteTopicsAsync([topic]);
            return ErrorCode.NoError;
        }
        catch (DeleteTopicsException ex)
        {
            return Assert.Single(ex.Results).Error.Code;
        }
        finally
        {
            using var setup = Broker.SetupAdmin();
            if (setup.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Error.Code == ErrorCode.NoError)
            {
                await setup.DeleteTopicsAsync([topic]);
            }
        }
    }

    private Task<ErrorCode> DescribeTopicAsync(string topic)
    {
        using var admin = Broker.Admin(Identity);
        return Task.FromResult(admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Error.Code);
    }

    private async Task<ErrorCode> DescribeConfigsAsync(string topic)
    {
        using var admin = Broker.Admin(Identity);
        try
        {
            await admin.DescribeConfigsAsync([new ConfigResource { Type = Confluent.Kafka.Admin.ResourceType.Topic, Name = topic }]);
            return ErrorCode.NoError;
        }
        catch (DescribeConfigsException ex)
        {
            return Assert.Single(ex.Results).Error.Code;
        }
    }

    private async Task<ErrorCode> CreatePartitionsAsync(string topic)
    {
        using (var setup = Broker.SetupAdmin())
        {
            if (setup.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Error.Code != ErrorCode.NoError)
            {
                await Broker.CreateTopicsAsync(topic);
            }
        }

        using var admin = Broker.Admin(Identity);
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Count;
        try
        {
            await admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = topic, IncreaseTo = partitions + 1 }]);
            return ErrorCode.NoError;
        }
        catch (CreatePartitionsException ex)
        {
            return Assert.Single(ex.Results).Error.Code;
        }
    }

    private async Task<ErrorCode> DescribeGroupAsync(string group)
    {
        using var admin = Broker.Admin(Identity);
        try
        {
            var described = await admin.DescribeConsumerGroupsAsync([group]);
            return Assert.Single(described.ConsumerGroupDescriptions).Error.Code;
        }
        catch (DescribeConsumerGroupsException ex)
        {
            return Assert.Single(ex.Results.ConsumerGroupDescriptions).Error.Code;
        }
    }

    private async Task<ErrorCode> DeleteGroupAsync(string group)
    {
        using var admin = Broker.Admin(Identity);
        try
        {
            await admin.DeleteGroupsAsync([group]);
            return ErrorCode.NoError;
        }
        catch (DeleteGroupsException ex)
        {
            return Assert.Single(ex.Results).Error.Code;
        }
    }

    private async Task<ErrorCode> CreateAclAsync()
    {
        using var admin = Broker.Admin(Identity);
        try
        {
            await admin.CreateAclsAsync([Acl(ResourceType.Topic, "created-by-test", ResourcePatternType.Literal, "User:carol", AclOperation.Read)]);
            return ErrorCode.NoError;
        }
        catch (CreateAclsException ex)
        {
            return Assert.Single(ex.Results).Error.Code;
        }
    }

    private async Task<ErrorCode> ElectLeadersAsync()
    {
        using var admin = Broker.Admin(Identity);
        try
        {
            var result = await admin.ElectLeadersAsync(ElectionType.Preferred, [new TopicPartition(AclMatrixBroker.Orders, 0)]);
            return Assert.Single(result.TopicPartitions).Error.Code;
        }
        catch (ElectLeadersException ex)
        {
            return Assert.Single(ex.Results.TopicPartitions).Error.Code;
        }
        catch (KafkaException ex)
        {
            return ex.Error.Code;
        }
    }

    // (librdkafka drops DescribeAcls' error code, so a denied DescribeAcls is tested over the raw protocol in AclApiTests.)
    private async Task<ErrorCode> DeleteAclsAsync()
    {
        using var admin = Broker.Admin(Identity);
        try
        {
            await admin.DeleteAclsAsync([AnyAcl]);
            return ErrorCode.NoError;
        }
        catch (DeleteAclsException ex)
        {
            return Assert.Single(ex.Results).Error.Code;
        }
    }
}
