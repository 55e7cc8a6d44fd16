using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using KafkaReader = Levee.Protocol.KafkaReader;
using KafkaWriter = Levee.Protocol.KafkaWriter;

namespace Levee.Broker.Tests;

public sealed class AdminTests : IAsyncLifetime
{
    private TestBroker _broker = null!;
    private IAdminClient _admin = null!;

    public async Task InitializeAsync()
    {
        _broker = await TestBroker.StartAsync();
        _admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _broker.DisposeAsync();
    }

    [Fact]
    public async Task AnswersWithoutAnError_CarryANullErrorMessage_AsKafkasDo()
    {
        // Issue 15: Levee sent "" where Kafka sends null ("The error message, or null if there was no error").
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var create = new CreateTopicsRequest { TimeoutMs = 10_000 };
        create.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = "null-messages", NumPartitions = 1, ReplicationFactor = 1 });
        var id = await client.SendAsync(ApiKey.CreateTopics, 7, (ref KafkaWriter w) => create.Write(ref w, 7));
        var body = await client.ReceiveAsync(ApiKey.CreateTopics, 7, id);
        var reader = new KafkaReader(body);
        var created = CreateTopicsResponse.Read(ref reader, 7).Topics.Single();
        Assert.Equal((0, null), (created.ErrorCode, created.ErrorMessage));

        var describe = new DescribeConfigsRequest { Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = "null-messages" }] };
        id = await client.SendAsync(ApiKey.DescribeConfigs, 4, (ref KafkaWriter w) => describe.Write(ref w, 4));
        body = await client.ReceiveAsync(ApiKey.DescribeConfigs, 4, id);
        reader = new KafkaReader(body);
        var described = DescribeConfigsResponse.Read(ref reader, 4).Results.Single();
        Assert.Equal((0, null), (described.ErrorCode, described.ErrorMessage));
    }

    [Fact]
    public void Metadata_ListsThisBrokerAsController()
    {
        var metadata = _admin.GetMetadata(TimeSpan.FromSeconds(10));
        var broker = Assert.Single(metadata.Brokers);
        Assert.Equal(1, broker.BrokerId);
        Assert.Equal(_broker.Broker.Identity.Port, broker.Port);
    }

    [Fact]
    public async Task DescribeCluster_NamesTheControllerAndTheBroker()
    {
        var cluster = await _admin.DescribeClusterAsync();
        Assert.Equal(1, cluster.Controller.Id);
        Assert.Single(cluster.Nodes);
        Assert.False(string.IsNullOrEmpty(cluster.ClusterId));
    }

    [Fact]
    public async Task CreateTopics_ValidateOnly_CreatesNothing()
    {
        await _admin.CreateTopicsAsync([new TopicSpecification { Name = "validate-only", NumPartitions = 3, ReplicationFactor = 1 }], new CreateTopicsOptions { ValidateOnly = true });
        var metadata = _admin.GetMetadata(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(metadata.Topics, t => t.Topic == "validate-only");
    }

    [Theory]
    [InlineData("dup", 1, 1, null, ErrorCode.TopicAlreadyExists)]
    [InlineData("zero-partitions", 0, 1, null, ErrorCode.InvalidPartitions)]
    [InlineData("rf-three", 1, 3, null, ErrorCode.InvalidReplicationFactor)]
    [InlineData("bad/name", 1, 1, null, ErrorCode.TopicException)]
    [InlineData("bad-config", 1, 1, "retention.ms=abc", ErrorCode.InvalidConfig)]
    [InlineData("unknown-config", 1, 1, "no.such.config=1", ErrorCode.InvalidConfig)]
    public async Task CreateTopics_WithInvalidInput_FailsWithKafkasErrorCode(string name, int partitions, short rf, string? config, ErrorCode expected)
    {
        if (name == "dup")
        {
            await _admin.CreateTopicsAsync([new TopicSpecification { Name = name, NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        var spec = new TopicSpecification { Name = name, NumPartitions = partitions, ReplicationFactor = rf };
        if (config is not null)
        {
            var parts = config.Split('=');
            spec.Configs = new Dictionary<string, string> { [parts[0]] = parts[1] };
        }

        var ex = await Assert.ThrowsAsync<CreateTopicsException>(() => _admin.CreateTopicsAsync([spec]));
        Assert.Equal(expected, Assert.Single(ex.Results).Error.Code);
    }

    [Fact]
    public async Task DescribeConfigs_ReturnsEveryTopicConfigWithItsDefaultAndSource()
    {
        await CreateTopicAsync("described", "retention.ms", "12345");

        var result = Assert.Single(await _admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Topic, Name = "described" }]));
        var entries = result.Entries;
        foreach (var name in new[] { "cleanup.policy", "retention.bytes", "segment.bytes", "segment.ms", "max.message.bytes", "message.timestamp.type", "min.insync.replicas", "compression.type" })
        {
            Assert.True(entries.ContainsKey(name), $"{name} missing");
            Assert.True(entries[name].IsDefault, $"{name} should be a default");
            Assert.Equal(ConfigSource.DefaultConfig, entries[name].Source);
        }

        Assert.Equal("delete", entries["cleanup.policy"].Value);
        Assert.Equal("1073741824", entries["segment.bytes"].Value);
        Assert.Equal("1048588", entries["max.message.bytes"].Value);
        Assert.Equal("12345", entries["retention.ms"].Value);
        Assert.False(entries["retention.ms"].IsDefault);
        Assert.Equal(ConfigSource.DynamicTopicConfig, entries["retention.ms"].Source);
    }

    [Fact]
    public async Task DescribeConfigs_Synonyms_AreKafkas_NoDefaultForBrokerKeysKafkaDerives()
    {
        // kafkajs's own suite (broker/__tests__/describeConfigs.spec.js): Kafka lists no synonym for retention.ms left at its
        // default, since log.retention.ms has no default of its own (log.retention.hours has); Levee listed log.retention.ms.
        await CreateTopicAsync("synonyms", "segment.ms", "60000");

        var entries = await DescribeAsync(new ConfigResource { Type = ResourceType.Topic, Name = "synonyms" });
        var compression = Assert.Single(entries["compression.type"].Synonyms);
        Assert.Equal(("compression.type", "producer", ConfigSource.DefaultConfig), (compression.Name, compression.Value, compression.Source));
        foreach (var name in new[] { "retention.ms", "segment.jitter.ms", "flush.ms" })
        {
            Assert.Empty(entries[name].Synonyms);
            Assert.Equal(ConfigSource.DefaultConfig, entries[name].Source);
            Assert.True(entries[name].IsDefault, $"{name} should be a default");
        }

        Assert.Equal("604800000", entries["retention.ms"].Value);
        var segmentMs = Assert.Single(entries["segment.ms"].Synonyms);
        Assert.Equal(("segment.ms", "60000", ConfigSource.DynamicTopicConfig), (segmentMs.Name, segmentMs.Value, segmentMs.Source));
    }

    [Fact]
    public async Task IncrementalAlterConfigs_SetsAndDeletesATopicConfig()
    {
        await _admin.CreateTopicsAsync([new TopicSpecification { Name = "altered", NumPartitions = 1, ReplicationFactor = 1 }]);
        var resource = new ConfigResource { Type = ResourceType.Topic, Name = "altered" };

        await _admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [resource] = [new ConfigEntry { Name = "retention.ms", Value = "60000", IncrementalOperation = AlterConfigOpType.Set }],
        });
        Assert.Equal("60000", (await DescribeAsync(resource))["retention.ms"].Value);

        await _admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [resource] = [new ConfigEntry { Name = "retention.ms", IncrementalOperation = AlterConfigOpType.Delete }],
        });
        var entry = (await DescribeAsync(resource))["retention.ms"];
        Assert.Equal("604800000", entry.Value);
        Assert.True(entry.IsDefault);

        var ex = await Assert.ThrowsAsync<IncrementalAlterConfigsException>(() => _admin.IncrementalAlterConfigsAsync(new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [resource] = [new ConfigEntry { Name = "segment.bytes", Value = "-5", IncrementalOperation = AlterConfigOpType.Set }],
        }));
        Assert.Equal(ErrorCode.InvalidConfig, Assert.Single(ex.Results).Error.Code);
    }

    [Fact]
    public async Task CreatePartitions_RaisesThePartitionCount_AndRefusesToLowerIt()
    {
        await _admin.CreateTopicsAsync([new TopicSpecification { Name = "growing", NumPartitions = 1, ReplicationFactor = 1 }]);
        await _admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = "growing", IncreaseTo = 4 }]);
        var topic = Assert.Single(_admin.GetMetadata("growing", TimeSpan.FromSeconds(10)).Topics);
        Assert.Equal(4, topic.Partitions.Count);

        var ex = await Assert.ThrowsAsync<CreatePartitionsException>(() => _admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = "growing", IncreaseTo = 2 }]));
        Assert.Equal(ErrorCode.InvalidPartitions, Assert.Single(ex.Results).Error.Code);
    }

    [Fact]
    public async Task DeleteTopics_RemovesTheTopic()
    {
        await _admin.CreateTopicsAsync([new TopicSpecification { Name = "doomed", NumPartitions = 2, ReplicationFactor = 1 }]);
        await _admin.DeleteTopicsAsync(["doomed"]);
        var metadata = _admin.GetMetadata(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(metadata.Topics, t => t.Topic == "doomed");

        var ex = await Assert.ThrowsAsync<DeleteTopicsException>(() => _admin.DeleteTopicsAsync(["doomed"]));
        Assert.Equal(ErrorCode.UnknownTopicOrPart, Assert.Single(ex.Results).Error.Code);
    }

    [Fact]
    public async Task DeleteRecords_MovesTheLogStartOffset()
    {
        await _admin.CreateTopicsAsync([new TopicSpecification { Name = "trimmed", NumPartitions = 1, ReplicationFactor = 1 }]);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _broker.BootstrapServers }).Build())
        {
            for (var i = 0; i < 20; i++)
            {
                await producer.ProduceAsync("trimmed", new Message<Null, string> { Value = "v" + i });
            }
        }

        var result = Assert.Single(await _admin.DeleteRecordsAsync([new TopicPartitionOffset("trimmed", 0, 7)]));
        Assert.Equal(7, result.Offset.Value);

        using var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = _broker.BootstrapServers, GroupId = "levee-tests" }).Build();
        var watermarks = consumer.QueryWatermarkOffsets(new TopicPartition("trimmed", 0), TimeSpan.FromSeconds(10));
        Assert.Equal(7, watermarks.Low.Value);
        consumer.Assign(new TopicPartitionOffset("trimmed", 0, Offset.Beginning));
        var first = consumer.Consume(TimeSpan.FromSeconds(10));
        Assert.Equal(7, first.Offset.Value);
        Assert.Equal("v7", first.Message.Value);
    }

    [Fact]
    public async Task Produce_ToAnUnknownTopic_WithAutoCreate_CreatesIt()
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        var delivered = await producer.ProduceAsync("auto-created", new Message<Null, string> { Value = "hello" });
        Assert.Equal(0, delivered.Offset.Value);
        Assert.Contains(_admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "auto-created");
    }

    private Task CreateTopicAsync(string name, string config, string value) =>
        _admin.CreateTopicsAsync([new TopicSpecification
        {
            Name = name,
            NumPartitions = 1,
            ReplicationFactor = 1,
            Configs = new Dictionary<string, string> { [config] = value },
        }]);

    private async Task<Dictionary<string, ConfigEntryResult>> DescribeAsync(ConfigResource resource) =>
        Assert.Single(await _admin.DescribeConfigsAsync([resource])).Entries;
}
