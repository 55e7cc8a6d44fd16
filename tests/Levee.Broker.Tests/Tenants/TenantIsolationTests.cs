using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Cluster;
using Levee.Broker.Tests.Infrastructure;
using Levee.Broker.Tests.Quotas;
using Levee.Protocol.Messages;
using Xunit.Abstractions;
using LeveeError = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Tenants;

/// <summary>
/// Two tenants on one broker, each with a topic <c>orders</c> and a group <c>billing</c>, used with Confluent.Kafka
/// over SASL: each sees, reads and commits only its own; the operator, on the broker listener, sees the stored names.
/// </summary>
public sealed class TenantIsolationTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Password = "pw-for-tenant-tests";
    private TestBroker _broker = null!;

    private string Sasl => Address("SASL_PLAINTEXT");

    private string Operator => Address("BROKER");

    public async Task InitializeAsync()
    {
        _broker = await TestBroker.StartAsync(o => o with
        {
            Listeners = "SASL_PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0",
            AutoCreateTopics = false,
        });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Operator }).Build();
        await admin.AlterUserScramCredentialsAsync(new[] { "acme-1", "acme-2", "globex-1", "loner" }.Select(u => (UserScramCredentialAlteration)new UserScramCredentialUpsertion
        {
            User = u,
            ScramCredentialInfo = new ScramCredentialInfo { Mechanism = ScramMechanism.ScramSha512, Iterations = 4096 },
            Password = Encoding.UTF8.GetBytes(Password),
        }));
        await AlterAsync(TenantType, "acme", ("plan", Set, "basic-0"), ("users", Append, "acme-1,acme-2"));
        await AlterAsync(TenantType, "globex", ("plan", Set, "basic-1"), ("users", Append, "globex-1"));
    }

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task TwoTenants_WithTheSameTopicAndGroup_EachReadsExactlyItsOwnRecords()
    {
        foreach (var user in new[] { "acme-1", "globex-1" })
        {
            using var admin = new AdminClientBuilder(Config(user)).Build();
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 2, ReplicationFactor = 1 }]);
            using var producer = new ProducerBuilder<Null, string>(Config(user)).Build();
            for (var i = 0; i < 5; i++)
            {
                await producer.ProduceAsync("orders", new Message<Null, string> { Value = $"{user}-{i}" });
            }
        }

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"acme-1-{i}"), Consume("acme-2", "billing", 5).Order());
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"globex-1-{i}"), Consume("globex-1", "billing", 5).Order());

        // Both committed under "billing": each group's offsets are its own tenant's.
        using var operatorAdmin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Operator }).Build();
        var groups = (await operatorAdmin.ListConsumerGroupsAsync()).Valid.Select(g => g.GroupId).Order().ToList();
        Assert.Equal(["acme.billing", "globex.billing"], groups);
        var topics = operatorAdmin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic).Where(t => !t.StartsWith("__", StringComparison.Ordinal)).Order().ToList();
        Assert.Equal(["acme.orders", "globex.orders"], topics);
    }

    [Fact]
    public async Task ATenant_ListsOnlyItsOwnTopicsAndGroups_AndNoInternalTopic()
    {
        await CreateAsync("acme-1", "orders");
        await CreateAsync("globex-1", "orders");
        await CreateAsync("globex-1", "payments");
        using (var producer = new ProducerBuilder<Null, string>(Config("globex-1")).Build())
        {
            await producer.ProduceAsync("orders", new Message<Null, string> { Value = "globex" });
        }

        Assert.Equal(["globex"], Consume("globex-1", "billing", 1));

        using var admin = new AdminClientBuilder(Config("acme-1")).Build();
        var topics = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic).ToList();
        Assert.Equal(["orders"], topics);
        var groups = (await admin.ListConsumerGroupsAsync()).Valid;
        Assert.Empty(groups);
    }

    [Fact]
    public async Task ATenant_CannotReachAnotherTenantsTopicByItsStoredName_NorDeleteAnInternalTopic()
    {
        await CreateAsync("globex-1", "orders");

        using var producer = new ProducerBuilder<Null, string>(Config("acme-1").Also(c => c.Set("message.timeout.ms", "3000"))).Build();
        var produce = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.ProduceAsync("globex.orders", new Message<Null, string> { Value = "sneaky" }));
        var unknown = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.ProduceAsync("no-such-topic", new Message<Null, string> { Value = "nowhere" }));
        Assert.Equal(unknown.Error.Code, produce.Error.Code);

        using var admin = new AdminClientBuilder(Config("acme-1")).Build();
        foreach (var name in new[] { "globex.orders", "__consumer_offsets" })
        {
            var delete = await Assert.ThrowsAsync<DeleteTopicsException>(() => admin.DeleteTopicsAsync([name]));
            Assert.Equal(ErrorCode.UnknownTopicOrPart, delete.Results.Single().Error.Code);
        }

        using var operatorAdmin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Operator }).Build();
        var stored = operatorAdmin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic).ToHashSet();
        Assert.Contains("globex.orders", stored);
        Assert.DoesNotContain("acme.globex.orders", stored);
    }

    [Fact]
    public async Task ErrorMessages_NameTheTenantsOwnNames()
    {
        await CreateAsync("acme-1", "orders");
        using var admin = new AdminClientBuilder(Config("acme-1")).Build();
        var again = await Assert.ThrowsAsync<CreateTopicsException>(() => admin.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 1, ReplicationFactor = 1 }]));
        var result = again.Results.Single();
        Assert.Equal(ErrorCode.TopicAlreadyExists, result.Error.Code);
        Assert.Equal("orders", result.Topic);
        Assert.Contains("'orders'", result.Error.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("acme.", result.Error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TopicConfigs_AreDescribedAndAlteredByTheTenantsNames()
    {
        await CreateAsync("acme-1", "orders");
        using var admin = new AdminClientBuilder(Config("acme-1")).Build();
        var resource = new ConfigResource { Type = ResourceType.Topic, Name = "orders" };
        await admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [resource] = [new ConfigEntry { Name = "retention.ms", Value = "3600000", IncrementalOperation = AlterConfigOpType.Set }],
        });
        var described = (await admin.DescribeConfigsAsync([resource])).Single();
        Assert.Equal("orders", described.ConfigResource.Name);
        Assert.Equal("3600000", described.Entries["retention.ms"].Value);

        // Broker configs are the operator's.
        var broker = await Assert.ThrowsAsync<DescribeConfigsException>(() => admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Broker, Name = "1" }]));
        Assert.Equal(ErrorCode.ClusterAuthorizationFailed, broker.Results.Single().Error.Code);
        var alter = await Assert.ThrowsAsync<IncrementalAlterConfigsException>(() => admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [new ConfigResource { Type = ResourceType.Broker, Name = "1" }] = [new ConfigEntry { Name = "message.max.bytes", Value = "100", IncrementalOperation = AlterConfigOpType.Set }],
        }));
        Assert.Equal(ErrorCode.ClusterAuthorizationFailed, alter.Results.Single().Error.Code);
        Assert.Equal("1048588", (await admin.DescribeConfigsAsync([resource])).Single().Entries["max.message.bytes"].Value);
    }

    [Fact]
    public async Task APrincipalOfNoTenant_SeesStoredNames()
    {
        await CreateAsync("acme-1", "orders");
        using var admin = new AdminClientBuilder(Config("loner")).Build();
        var topics = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic).ToList();
        Assert.Contains("acme.orders", topics);
    }

    [Fact]
    public async Task APlansPartitionLimit_RefusesTopicsAndPartitionsBeyondIt_WithPolicyViolation()
    {
        await AlterAsync(PlanType, "tiny", ("partitions", Set, "3"));
        await AlterAsync(TenantType, "acme", ("plan", Set, "tiny"));
        using var admin = new AdminClientBuilder(Config("acme-1")).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 2, ReplicationFactor = 1 }]);

        var tooMany = await Assert.ThrowsAsync<CreateTopicsException>(() => admin.CreateTopicsAsync([new TopicSpecification { Name = "more", NumPartitions = 2, ReplicationFactor = 1 }]));
        Assert.Equal(ErrorCode.PolicyViolation, tooMany.Results.Single().Error.Code);
        Assert.Contains("partitions", tooMany.Results.Single().Error.Reason, StringComparison.Ordinal);

        var grow = await Assert.ThrowsAsync<CreatePartitionsException>(() => admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = "orders", IncreaseTo = 4 }]));
        Assert.Equal(ErrorCode.PolicyViolation, grow.Results.Single().Error.Code);
        await admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = "orders", IncreaseTo = 3 }]);
    }

    [Fact]
    public async Task APlansProduceRate_ThrottlesTheTenantsClients()
    {
        await AlterAsync(PlanType, "slow", ("producer_byte_rate", Set, "10240"));
        await AlterAsync(TenantType, "acme", ("plan", Set, "slow"));
        await CreateAsync("acme-1", "orders");
        var throttled = 0L;
        var config = new ProducerConfig(Config("acme-1")) { StatisticsIntervalMs = 100, LingerMs = 0 };
        using var producer = new ProducerBuilder<Null, byte[]>(config)
            .SetStatisticsHandler((_, json) =>
            {
                using var stats = JsonDocument.Parse(json);
                foreach (var broker in stats.RootElement.GetProperty("brokers").EnumerateObject())
                {
                    Interlocked.Exchange(ref throttled, Math.Max(Interlocked.Read(ref throttled), broker.Value.GetProperty("throttle").GetProperty("max").GetInt64()));
                }
            })
            .Build();
        var payload = new byte[16 * 1024];
        for (var i = 0; i < 8 && Interlocked.Read(ref throttled) == 0; i++)
        {
            await producer.ProduceAsync("orders", new Message<Null, byte[]> { Value = payload });
        }

        // The statistics of the next interval carry the throttle time the broker answered.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (Interlocked.Read(ref throttled) == 0)
        {
            await producer.ProduceAsync("orders", new Message<Null, byte[]> { Value = payload }, timeout.Token);
        }

        Assert.True(Interlocked.Read(ref throttled) > 0);
    }

    [Fact]
    public async Task APlansStorageLimit_RefusesTheTenantsProduce_WithPolicyViolation_AndUsageShowsIt()
    {
        await AlterAsync(PlanType, "small", ("storage_bytes", Set, "4096"));
        await AlterAsync(TenantType, "acme", ("plan", Set, "small"));
        await CreateAsync("acme-1", "orders");
        using var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig(Config("acme-1")) { Acks = Acks.All }).Build();
        await producer.ProduceAsync("orders", new Message<Null, byte[]> { Value = new byte[8192] });

        // The stored bytes are summed at most once a second: the next Produce within it may still pass.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        ProduceException<Null, byte[]>? refused = null;
        while (refused is null)
        {
            timeout.Token.ThrowIfCancellationRequested();
            try
            {
                await producer.ProduceAsync("orders", new Message<Null, byte[]> { Value = new byte[16] }, timeout.Token);
            }
            catch (ProduceException<Null, byte[]> ex)
            {
                refused = ex;
            }
        }

        Assert.Equal(ErrorCode.PolicyViolation, refused.Error.Code);

        var usage = await DescribeTenantAsync("acme");
        Assert.InRange(long.Parse(usage["usage.storage_bytes"], System.Globalization.CultureInfo.InvariantCulture), 8192, long.MaxValue);
        Assert.InRange(int.Parse(usage["usage.connections"], System.Globalization.CultureInfo.InvariantCulture), 1, 10);
        Assert.Equal("1", usage["usage.topics"]);
        Assert.Equal("4096", usage["limit.storage_bytes"]);
    }

    /// <summary>
    /// basic-0's 64 KB/s for a tenant producing flat out, within 10%, over a whole number of Kafka's 11 s measurement
    /// cycles (LEVEE_QUOTA_SECONDS, 33 s unless set), on one broker.
    /// </summary>
    // Run alone by .ci/run (Category=Alone): in parallel with the other test projects it read 129% and 131% of the
    // plan twice, alone 100.0-100.1%; why load lets a tenant's admission over-admit is not found yet (docs/tenants.md).
    [Fact]
    [Trait("Category", "Alone")]
    public async Task ABasic0Tenant_ProducingFlatOut_GetsItsPlansRate_WithinTenPercent()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("LEVEE_QUOTA_SECONDS"), out var s) ? s : 33;
        await CreateAsync("acme-1", "metered");
        var config = new ProducerConfig(Config("acme-1")) { Acks = Acks.All, LingerMs = 5, BatchSize = 16 * 1024, QueueBufferingMaxKbytes = 64, MessageTimeoutMs = 120_000 };
        var end = TimeSpan.FromSeconds(seconds);
        var (acknowledged, failed) = FlatOut.Produce(config, "metered", TimeSpan.FromSeconds(WarmUpSeconds), end);
        var rate = acknowledged / end.TotalSeconds;
        output.WriteLine($"basic-0 tenant: acknowledged {rate:F0} B/s of record values over {seconds} s ({rate / (64 * 1024):P1} of 64 KiB/s), {failed} failed");
        Assert.Equal(0, failed);
        Assert.InRange(rate / (64 * 1024), 0.9, 1.1);
    }

    /// <summary>basic-0's 256 KB/s for a tenant consuming flat out, within 10%, over LEVEE_QUOTA_SECONDS (33 s unless set).</summary>
    [Fact]
    public async Task ABasic0Tenant_ConsumingFlatOut_GetsItsPlansConsumeRate_WithinTenPercent()
    {
        const int quota = 256 * 1024;
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("LEVEE_QUOTA_SECONDS"), out var s) ? s : 33;
        await CreateAsync("acme-1", "metered");

        // Written by the operator (no quota), more than the tenant may read in the time.
        var value = new byte[1000];
        var records = (int)(quota * (seconds + WarmUpSeconds + 15L) / value.Length);
        using (var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig { BootstrapServers = Operator, LingerMs = 20, BatchSize = 16 * 1024 }).Build())
        {
            for (var i = 0; i < records; i++)
            {
                producer.Produce("acme.metered", new Message<Null, byte[]> { Value = value });
                if (i % 10_000 == 0)
                {
                    producer.Poll(TimeSpan.Zero);
                }
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }

        var config = new ConsumerConfig(Config("acme-1")) { GroupId = "metered", AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false, MaxPartitionFetchBytes = 64 * 1024 };
        var end = TimeSpan.FromSeconds(seconds);
        var consumed = FlatOut.Consume(config, "metered", TimeSpan.FromSeconds(WarmUpSeconds), end);
        var rate = consumed / end.TotalSeconds;
        output.WriteLine($"basic-0 tenant: consumed {rate:F0} B/s of record values over {seconds} s ({rate / quota:P1} of 256 KiB/s)");
        Assert.InRange(rate / quota, 0.9, 1.1);
    }

    [Theory]
    [InlineData("Acme")]
    [InlineData("a.b")]
    [InlineData("..")]
    [InlineData("аcme")]
    [InlineData("acme-with-a-name-far-longer-than-32")]
    [InlineData("")]
    public async Task TenantNames_ThatCouldEscapeTheNamespace_AreRefused(string name)
    {
        var (error, message) = await TryAlterAsync(TenantType, name, ("plan", Set, "basic-0"));
        Assert.Equal(LeveeError.InvalidRequest, error);
        Assert.Contains("not valid", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("lots")]
    public async Task PlanLimits_ThatAreNotPositive_AreRefused(string value)
    {
        var (error, _) = await TryAlterAsync(PlanType, "odd", ("producer_byte_rate", Set, value));
        Assert.Equal(LeveeError.InvalidConfig, error);
    }

    [Fact]
    public async Task AUserBelongsToOneTenantOnly_AndATenantWithUsersIsNotDeleted()
    {
        var (taken, takenMessage) = await TryAlterAsync(TenantType, "globex", ("users", Append, "acme-1"));
        Assert.Equal(LeveeError.InvalidConfig, taken);
        Assert.Contains("acme", takenMessage, StringComparison.Ordinal);

        var (deleted, _) = await TryAlterAsync(TenantType, "acme", ("plan", Delete, null));
        Assert.Equal(LeveeError.PolicyViolation, deleted);
    }

    // One measured span (quota.window.num x quota.window.size.seconds) before a consumer's rate is measured.
    private const int WarmUpSeconds = 11;

    private const sbyte TenantType = 100;
    private const sbyte PlanType = 101;
    private const sbyte Set = 0;
    private const sbyte Delete = 1;
    private const sbyte Append = 2;

    private async Task CreateAsync(string user, string topic)
    {
        using var admin = new AdminClientBuilder(Config(user)).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
    }

    private async Task AlterAsync(sbyte type, string name, params (string Key, sbyte Op, string? Value)[] changes)
    {
        var (error, message) = await TryAlterAsync(type, name, changes);
        Assert.True(error == LeveeError.None, $"{error}: {message}");
    }

    private Task<(LeveeError Error, string? Message)> TryAlterAsync(sbyte type, string name, params (string Key, sbyte Op, string? Value)[] changes) =>
        TenantTestExtensions.TryAlterAsync(Operator, type, name, changes);

    private async Task<Dictionary<string, string>> DescribeTenantAsync(string name)
    {
        var colon = Operator.LastIndexOf(':');
        await using var client = new BrokerClient(Operator[..colon], int.Parse(Operator[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture), "tenant-tests");
        var request = new DescribeConfigsRequest();
        request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = TenantType, ResourceName = name, ConfigurationKeys = null });
        var response = await client.SendAsync<DescribeConfigsRequest, DescribeConfigsResponse>(Levee.Protocol.Messages.ApiKey.DescribeConfigs, 4, request, CancellationToken.None);
        var result = response.Results.Single();
        Assert.True(result.ErrorCode == 0, result.ErrorMessage);
        return result.Configs.ToDictionary(c => c.Name, c => c.Value ?? "");
    }

    private List<string> Consume(string user, string group, int count) => TenantTestExtensions.ConsumeAndCommit(Config(user), "orders", group, count);

    private string Address(string listener) =>
        _broker.Broker.Identity.Endpoints.Single(e => e.Name == listener) is var e ? $"{e.Host}:{e.Port}" : "";

    private ClientConfig Config(string user) => new()
    {
        BootstrapServers = Sasl,
        SecurityProtocol = SecurityProtocol.SaslPlaintext,
        SaslMechanism = SaslMechanism.ScramSha512,
        SaslUsername = user,
        SaslPassword = Password,
    };
}

/// <summary>What the tenant tests share: a client config changed in an expression, tenants altered over the operator's listener.</summary>
internal static class TenantTestExtensions
{
    /// <summary>IncrementalAlterConfigs of one resource (a TENANT or PLAN) sent to <paramref name="bootstrap"/>; the resource's error.</summary>
    public static async Task<(LeveeError Error, string? Message)> TryAlterAsync(string bootstrap, sbyte type, string name, params (string Key, sbyte Op, string? Value)[] changes)
    {
        var colon = bootstrap.LastIndexOf(':');
        await using var client = new BrokerClient(bootstrap[..colon], int.Parse(bootstrap[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture), "tenant-tests");
        var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = type, ResourceName = name };
        resource.Configs.AddRange(changes.Select(c => new IncrementalAlterConfigsRequest.AlterableConfig { Name = c.Key, ConfigOperation = c.Op, Value = c.Value }));
        var request = new IncrementalAlterConfigsRequest();
        request.Resources.Add(resource);
        var response = await client.SendAsync<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(Levee.Protocol.Messages.ApiKey.IncrementalAlterConfigs, 1, request, CancellationToken.None);
        var result = response.Responses.Single();
        return ((LeveeError)result.ErrorCode, result.ErrorMessage);
    }

    /// <summary>Up to <paramref name="count"/> values read from the start of <paramref name="topic"/> in <paramref name="group"/>, each committed (30 s at most).</summary>
    public static List<string> ConsumeAndCommit(ClientConfig client, string topic, string group, int count)
    {
        var config = new ConsumerConfig(client) { GroupId = group, AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false };
        using var consumer = new ConsumerBuilder<Null, string>(config).Build();
        consumer.Subscribe(topic);
        var values = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (values.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } result)
            {
                values.Add(result.Message.Value);
                consumer.Commit(result);
            }
        }

        consumer.Close();
        return values;
    }

    public static ClientConfig Also(this ClientConfig config, Action<ClientConfig> change)
    {
        change(config);
        return config;
    }
}
