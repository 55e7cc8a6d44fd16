using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Cluster;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests;

/// <summary>
/// Issue 15, item 4: DescribeConfigs on a broker lists every broker config with Kafka's sources and synonyms, and
/// dynamic broker configs (KIP-226), kept in the metadata log, change the topic defaults of every broker at run time.
/// </summary>
public sealed class DynamicBrokerConfigsTests
{
    private const sbyte BrokerType = 4;
    private const sbyte CapacityType = 102;
    private const sbyte Set = 0;
    private const sbyte Delete = 1;
    private const sbyte Append = 2;

    [Fact]
    public async Task DescribeConfigs_OnABroker_ListsEveryConfig_WithKafkasSourcesAndSynonyms_AndHidesSecrets()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxConnections = 500, SslKeyPassword = new SecretText("hunter2") });
        using var admin = Admin(broker.BootstrapServers);
        await admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [new ConfigResource { Type = ResourceType.Broker, Name = "1" }] = [new ConfigEntry { Name = "log.retention.bytes", Value = "5000000", IncrementalOperation = AlterConfigOpType.Set }],
        });

        var entries = await PollAsync(
            () => DescribeBrokerAsync(admin, "1"),
            e => e["log.retention.bytes"].Source == ConfigSource.DynamicBrokerConfig);

        // A default, a static and a dynamic key, each with the synonyms Kafka lists, the one in effect first.
        Assert.Equal(("1", ConfigSource.DefaultConfig, true), (entries["num.partitions"].Value, entries["num.partitions"].Source, entries["num.partitions"].IsReadOnly));
        Assert.Equal([("num.partitions", "1", ConfigSource.DefaultConfig)], Synonyms(entries["num.partitions"]));
        Assert.Equal(("500", ConfigSource.StaticBrokerConfig), (entries["max.connections"].Value, entries["max.connections"].Source));
        Assert.Equal([("max.connections", "500", ConfigSource.StaticBrokerConfig), ("max.connections", "2147483647", ConfigSource.DefaultConfig)], Synonyms(entries["max.connections"]));
        Assert.Equal(("5000000", ConfigSource.DynamicBrokerConfig, false), (entries["log.retention.bytes"].Value, entries["log.retention.bytes"].Source, entries["log.retention.bytes"].IsReadOnly));
        Assert.Equal([("log.retention.bytes", "5000000", ConfigSource.DynamicBrokerConfig), ("log.retention.bytes", "-1", ConfigSource.DefaultConfig)], Synonyms(entries["log.retention.bytes"]));

        // Every config is there, listeners included; the read-only ones say so; secrets are sensitive with no value.
        Assert.Equal($"PLAINTEXT://127.0.0.1:{broker.Broker.Identity.Port}", entries["listeners"].Value);
        Assert.Equal(entries["listeners"].Value, entries["advertised.listeners"].Value);
        Assert.Equal(("1", ConfigSource.DefaultConfig), (entries["node.id"].Value, entries["node.id"].Source));
        Assert.Equal((Path.GetFullPath(broker.DataDir), ConfigSource.StaticBrokerConfig, true), (entries["log.dirs"].Value, entries["log.dirs"].Source, entries["log.dirs"].IsReadOnly));
        Assert.Equal((null, true, ConfigSource.StaticBrokerConfig), (entries["ssl.key.password"].Value, entries["ssl.key.password"].IsSensitive, entries["ssl.key.password"].Source));
        Assert.All(entries["ssl.key.password"].Synonyms, s => Assert.Null(s.Value));
        Assert.True(entries["admin.token"].IsSensitive);
        Assert.Null(entries["admin.token"].Value);
        Assert.False(entries["message.max.bytes"].IsReadOnly);
        Assert.DoesNotContain(entries.Values, e => e.Value == "hunter2" || e.Synonyms.Any(s => s.Value == "hunter2"));
    }

    [Fact]
    public async Task ADynamicDefault_ReachesTopicsOnEveryBroker_AndAPerBrokerValueWinsOverIt_AndDeleteRestoresIt()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var brokers = cluster.Brokers.Select(b => b!).ToArray();
        using var admin = Admin(cluster.BootstrapServers);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "t", NumPartitions = 3, ReplicationFactor = 3 }]);

        // Sent to broker 2, which is not necessarily the controller: it is forwarded.
        Assert.Equal((0, null), await AlterAsync(brokers[1], "", validateOnly: false, ("message.max.bytes", Set, "2000")));
        foreach (var broker in brokers)
        {
            var (value, source, synonyms) = await PollAsync(() => DescribeTopicAsync(broker, "t", "max.message.bytes"), d => d.Value == "2000");
            Assert.Equal((sbyte)ConfigSource.DynamicDefaultBrokerConfig, source);
            Assert.Equal([("message.max.bytes", "2000", (sbyte)ConfigSource.DynamicDefaultBrokerConfig), ("message.max.bytes", "1048588", (sbyte)ConfigSource.DefaultConfig)], synonyms);
        }

        // Every leader now refuses a batch above the new limit.
        using (var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 0 }).Build())
        {
            for (var partition = 0; partition < 3; partition++)
            {
                var refused = await Assert.ThrowsAsync<ProduceException<Null, byte[]>>(() => producer.ProduceAsync(new TopicPartition("t", partition), new Message<Null, byte[]> { Value = new byte[5000] }));
                Assert.Equal(ErrorCode.MsgSizeTooLarge, refused.Error.Code);
            }

            Assert.Equal(PersistenceStatus.Persisted, (await producer.ProduceAsync("t", new Message<Null, byte[]> { Value = new byte[100] })).Status);
        }

        // Broker 3's own value wins over the cluster default there, and there only.
        Assert.Equal((0, null), await AlterAsync(brokers[0], "3", validateOnly: false, ("message.max.bytes", Set, "3000")));
        var onThree = await PollAsync(() => DescribeTopicAsync(brokers[2], "t", "max.message.bytes"), d => d.Value == "3000");
        Assert.Equal((sbyte)ConfigSource.DynamicBrokerConfig, onThree.Source);
        Assert.Equal([("message.max.bytes", "3000", (sbyte)ConfigSource.DynamicBrokerConfig), ("message.max.bytes", "2000", (sbyte)ConfigSource.DynamicDefaultBrokerConfig), ("message.max.bytes", "1048588", (sbyte)ConfigSource.DefaultConfig)], onThree.Synonyms);
        Assert.Equal("2000", (await DescribeTopicAsync(brokers[1], "t", "max.message.bytes")).Value);

        // Deleting both restores Kafka's default everywhere.
        Assert.Equal((0, null), await AlterAsync(brokers[2], "3", validateOnly: false, ("message.max.bytes", Delete, null)));
        Assert.Equal((0, null), await AlterAsync(brokers[2], "", validateOnly: false, ("message.max.bytes", Delete, null)));
        foreach (var broker in brokers)
        {
            var restored = await PollAsync(() => DescribeTopicAsync(broker, "t", "max.message.bytes"), d => d.Value == "1048588");
            Assert.Equal((sbyte)ConfigSource.DefaultConfig, restored.Source);
        }
    }

    [Fact]
    public async Task AKeyThatCannotChangeAtRunTime_IsRefusedWithKafkasMessage_AndTheOtherEntriesAreNotApplied_AndValidateOnlyChangesNothing()
    {
        await using var broker = await TestBroker.StartAsync();
        var refused = await AlterAsync(broker.Broker, "", validateOnly: false, ("log.retention.ms", Set, "60000"), ("log.dirs", Set, "/elsewhere"), ("num.partitions", Set, "3"));
        Assert.Equal(((short)KafkaErrorCode.InvalidRequest, "Cannot update these configs dynamically: Set(log.dirs, num.partitions)"), refused);

        Assert.Equal((0, null), await AlterAsync(broker.Broker, "1", validateOnly: true, ("log.retention.ms", Set, "60000")));
        var invalid = await AlterAsync(broker.Broker, "1", validateOnly: true, ("log.retention.ms", Set, "soon"));
        Assert.Equal(((short)KafkaErrorCode.InvalidRequest, "Invalid value soon for configuration log.retention.ms: must be -1 or more"), invalid);

        using var admin = Admin(broker.BootstrapServers);
        var entries = await DescribeBrokerAsync(admin, "1");
        Assert.Equal((null, ConfigSource.DefaultConfig), (entries["log.retention.ms"].Value, entries["log.retention.ms"].Source));
        Assert.Empty(await DescribeDefaultAsync(broker.Broker));
    }

    [Fact]
    public async Task DynamicConfigs_SurviveARestart_AndTheClusterDefaultResourceListsOnlyThem()
    {
        await using var broker = await TestBroker.StartAsync();
        using (var admin = Admin(broker.BootstrapServers))
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "kept", NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        Assert.Equal((0, null), await AlterAsync(broker.Broker, "", validateOnly: false, ("log.retention.hours", Set, "24")));
        Assert.Equal((0, null), await AlterAsync(broker.Broker, "1", validateOnly: false, ("log.segment.bytes", Set, "1048576")));
        await broker.RestartAsync();

        Assert.Equal([("log.retention.hours", "24", (sbyte)ConfigSource.DynamicDefaultBrokerConfig)], await DescribeDefaultAsync(broker.Broker));
        var retention = await PollAsync(() => DescribeTopicAsync(broker.Broker, "kept", "retention.ms"), d => d.Value == "86400000");
        // Kafka's ConfigHelper lists a topic config's broker synonyms from the first one named by its own broker key
        // (log.retention.ms): with only log.retention.hours set, retention.ms shows none and reads as a default.
        Assert.Equal((sbyte)ConfigSource.DefaultConfig, retention.Source);
        Assert.Empty(retention.Synonyms);
        var segment = await DescribeTopicAsync(broker.Broker, "kept", "segment.bytes");
        Assert.Equal(("1048576", (sbyte)ConfigSource.DynamicBrokerConfig), (segment.Value, segment.Source));
        Assert.Equal(1_048_576, broker.Broker.Replicas.Partitions.Single(p => p.Id.Topic == "kept").Log.Config.SegmentBytes);
    }

    [Fact]
    public async Task AlterConfigs_OnABroker_ReplacesItsDynamicConfigs_AndRefusesAReadOnlyKey()
    {
        await using var broker = await TestBroker.StartAsync();
        // APPEND starts from Kafka's default, delete, when the broker has no value of its own.
        Assert.Equal((0, null), await AlterAsync(broker.Broker, "1", validateOnly: false, ("log.retention.bytes", Set, "1000000"), ("log.cleanup.policy", Append, "compact")));
        Assert.Equal([("log.cleanup.policy", "delete,compact", (sbyte)ConfigSource.DynamicBrokerConfig), ("log.retention.bytes", "1000000", (sbyte)ConfigSource.DynamicBrokerConfig)], await DynamicOnlyAsync(broker.Broker));

        Assert.Equal((0, null), await ReplaceAsync(broker.Broker, "1", ("message.max.bytes", "4000")));
        Assert.Equal([("message.max.bytes", "4000", (sbyte)ConfigSource.DynamicBrokerConfig)], await DynamicOnlyAsync(broker.Broker));

        Assert.Equal(((short)KafkaErrorCode.InvalidRequest, "Cannot update these configs dynamically: Set(auto.create.topics.enable)"), await ReplaceAsync(broker.Broker, "1", ("auto.create.topics.enable", "false")));
        Assert.Equal([("message.max.bytes", "4000", (sbyte)ConfigSource.DynamicBrokerConfig)], await DynamicOnlyAsync(broker.Broker));
    }

    [Fact]
    public async Task ACapacityLimitSetAtRunTime_IsTheOneTheControllerModels()
    {
        await using var broker = await TestBroker.StartAsync();
        Assert.Equal((0, null), await AlterAsync(broker.Broker, "", validateOnly: false, ("broker.capacity.partitions", Set, "40")));
        Assert.Equal((0, null), await AlterAsync(broker.Broker, "1", validateOnly: false, ("broker.capacity.partitions", Set, "30")));

        var capacity = await PollAsync(() => DescribeAsync(broker.Broker, CapacityType, "1", "partitions.limit"), r => r.Configs.Single().Value == "30");
        Assert.Equal("30", capacity.Configs.Single().Value);
        var described = (await DescribeAsync(broker.Broker, BrokerType, "1", "broker.capacity.partitions")).Configs.Single();
        Assert.Equal(("30", (sbyte)ConfigSource.DynamicBrokerConfig, false), (described.Value, described.ConfigSource, described.ReadOnly));
        Assert.Equal(((short)KafkaErrorCode.InvalidRequest, "Invalid value 0 for configuration broker.capacity.partitions: must be a positive long"), await AlterAsync(broker.Broker, "1", validateOnly: false, ("broker.capacity.partitions", Set, "0")));
    }

    private static async Task<List<(string, string?, sbyte)>> DynamicOnlyAsync(LeveeBroker broker) =>
        [.. (await DescribeAsync(broker, BrokerType, "1", null)).Configs.Where(c => c.ConfigSource == (sbyte)ConfigSource.DynamicBrokerConfig).Select(c => (c.Name, c.Value, c.ConfigSource))];

    private static async Task<(short Error, string? Message)> ReplaceAsync(LeveeBroker broker, string name, params (string Key, string Value)[] configs)
    {
        await using var client = Client(broker);
        var resource = new AlterConfigsRequest.AlterConfigsResource { ResourceType = BrokerType, ResourceName = name };
        resource.Configs.AddRange(configs.Select(c => new AlterConfigsRequest.AlterableConfig { Name = c.Key, Value = c.Value }));
        var result = (await client.SendAsync<AlterConfigsRequest, AlterConfigsResponse>(ApiKey.AlterConfigs, 2, new AlterConfigsRequest { Resources = [resource] }, CancellationToken.None)).Responses.Single();
        return (result.ErrorCode, result.ErrorMessage);
    }

    private static IAdminClient Admin(string bootstrap) => new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();

    private static async Task<Dictionary<string, ConfigEntryResult>> DescribeBrokerAsync(IAdminClient admin, string id) =>
        (await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Broker, Name = id }])).Single().Entries;

    private static List<(string, string?, ConfigSource)> Synonyms(ConfigEntryResult entry) => [.. entry.Synonyms.Select(s => (s.Name, s.Value, s.Source))];

    private static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var value = await read();
            if (done(value) || DateTime.UtcNow > deadline)
            {
                return value;
            }

            await Task.Delay(50);
        }
    }

    private static BrokerClient Client(LeveeBroker broker)
    {
        var colon = broker.BootstrapServers.LastIndexOf(':');
        return new BrokerClient(broker.BootstrapServers[..colon], int.Parse(broker.BootstrapServers[(colon + 1)..], CultureInfo.InvariantCulture), "dynamic-broker-configs-tests");
    }

    private static async Task<(short Error, string? Message)> AlterAsync(LeveeBroker broker, string name, bool validateOnly, params (string Key, sbyte Op, string? Value)[] changes)
    {
        await using var client = Client(broker);
        var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = BrokerType, ResourceName = name };
        resource.Configs.AddRange(changes.Select(c => new IncrementalAlterConfigsRequest.AlterableConfig { Name = c.Key, ConfigOperation = c.Op, Value = c.Value }));
        var request = new IncrementalAlterConfigsRequest { ValidateOnly = validateOnly, Resources = [resource] };
        var result = (await client.SendAsync<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, request, CancellationToken.None)).Responses.Single();
        return (result.ErrorCode, result.ErrorMessage);
    }

    private static async Task<List<(string, string?, sbyte)>> DescribeDefaultAsync(LeveeBroker broker)
    {
        var result = await DescribeAsync(broker, BrokerType, "", null);
        return [.. result.Configs.Select(c => (c.Name, c.Value, c.ConfigSource))];
    }

    private static async Task<(string? Value, sbyte Source, List<(string, string?, sbyte)> Synonyms)> DescribeTopicAsync(LeveeBroker broker, string topic, string key)
    {
        var entry = (await DescribeAsync(broker, 2, topic, key)).Configs.Single();
        return (entry.Value, entry.ConfigSource, [.. entry.Synonyms.Select(s => (s.Name, s.Value, s.Source))]);
    }

    private static async Task<DescribeConfigsResponse.DescribeConfigsResult> DescribeAsync(LeveeBroker broker, sbyte type, string name, string? key)
    {
        await using var client = Client(broker);
        var request = new DescribeConfigsRequest { IncludeSynonyms = true };
        request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = type, ResourceName = name, ConfigurationKeys = key is null ? null : [key] });
        var result = (await client.SendAsync<DescribeConfigsRequest, DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, request, CancellationToken.None)).Results.Single();
        Assert.Equal(0, result.ErrorCode);
        return result;
    }
}
