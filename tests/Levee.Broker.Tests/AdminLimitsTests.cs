using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using LogManager = Levee.Storage.LogManager;

namespace Levee.Broker.Tests;

/// <summary>
/// Issue 17: admin requests are bounded as Kafka bounds them, internal topics cannot be deleted, and
/// deleting a topic of many partitions removes its logs in the background.
/// </summary>
public sealed class AdminLimitsTests
{
    [Fact]
    public async Task CreateTopics_OfOneHundredThousandPartitions_IsRefusedWithPolicyViolation_AndCreatesNothing()
    {
        await using var broker = await TestBroker.StartAsync();
        using var admin = Admin(broker);

        var ex = await Assert.ThrowsAsync<CreateTopicsException>(() => admin.CreateTopicsAsync([new TopicSpecification { Name = "huge", NumPartitions = 100_000, ReplicationFactor = 1 }]));

        var result = Assert.Single(ex.Results);
        Assert.Equal(ErrorCode.PolicyViolation, result.Error.Code);
        Assert.Contains("Unable to perform excessively large batch operation.", result.Error.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "huge");
        Assert.Empty(Directory.EnumerateDirectories(broker.DataDir, "huge-*"));
    }

    [Fact]
    public async Task CreateTopics_WhoseTopicsTogetherExceedTheRecordBound_IsRefusedWhole()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxRecordsPerUserOp = 100 });
        using var admin = Admin(broker);

        var ex = await Assert.ThrowsAsync<CreateTopicsException>(() => admin.CreateTopicsAsync(
        [
            new TopicSpecification { Name = "half-a", NumPartitions = 60, ReplicationFactor = 1 },
            new TopicSpecification { Name = "half-b", NumPartitions = 60, ReplicationFactor = 1 },
        ]));

        Assert.All(ex.Results, r => Assert.Equal(ErrorCode.PolicyViolation, r.Error.Code));
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic.StartsWith("half-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CreateTopics_OverMaxPartitionsPerTopic_IsRefusedWithInvalidPartitions()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxPartitionsPerTopic = 8 });
        using var admin = Admin(broker);

        var ex = await Assert.ThrowsAsync<CreateTopicsException>(() => admin.CreateTopicsAsync([new TopicSpecification { Name = "nine", NumPartitions = 9, ReplicationFactor = 1 }]));

        var result = Assert.Single(ex.Results);
        Assert.Equal(ErrorCode.InvalidPartitions, result.Error.Code);
        Assert.Contains("max.partitions.per.topic", result.Error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreatePartitions_PastMaxPartitionsPerTopic_IsRefusedAndTheTopicKeepsItsPartitions()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { MaxPartitionsPerTopic = 8 });
        using var admin = Admin(broker);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "grows", NumPartitions = 4, ReplicationFactor = 1 }]);

        var ex = await Assert.ThrowsAsync<CreatePartitionsException>(() => admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = "grows", IncreaseTo = 9 }]));

        Assert.Equal(ErrorCode.InvalidPartitions, Assert.Single(ex.Results).Error.Code);
        Assert.Equal(4, admin.GetMetadata("grows", TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Count);
    }

    [Fact]
    public async Task CreateTopics_ThatWouldTakeABrokerOverItsPartitionCapacity_IsRefusedNamingTheBroker()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { BrokerCapacityPartitions = 10 });
        using var admin = Admin(broker);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "first", NumPartitions = 8, ReplicationFactor = 1 }]);

        var ex = await Assert.ThrowsAsync<CreateTopicsException>(() => admin.CreateTopicsAsync([new TopicSpecification { Name = "second", NumPartitions = 3, ReplicationFactor = 1 }]));

        var result = Assert.Single(ex.Results);
        Assert.Equal(ErrorCode.PolicyViolation, result.Error.Code);
        Assert.Equal("Creating topic 'second' would take broker 1 to 11 partitions, over its limit of 10 (broker.capacity.partitions).", result.Error.Reason);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "fits", NumPartitions = 2, ReplicationFactor = 1 }]);
    }

    [Fact]
    public async Task DeleteTopics_OfTheOffsetsTopic_IsRefusedAndGroupsKeepTheirOffsets()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { OffsetsTopicPartitions = 3, GroupInitialRebalanceDelayMs = 0 });
        using var admin = Admin(broker);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "read", NumPartitions = 1, ReplicationFactor = 1 }]);
        using (var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "keeps" }).Build())
        {
            consumer.Commit([new TopicPartitionOffset("read", 0, 0)]);
        }

        var ex = await Assert.ThrowsAsync<DeleteTopicsException>(() => admin.DeleteTopicsAsync(["__consumer_offsets"]));

        var result = Assert.Single(ex.Results);
        Assert.Equal(ErrorCode.InvalidRequest, result.Error.Code);
        Assert.Contains(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "__consumer_offsets");
        var offsets = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions("keeps", [new TopicPartition("read", 0)])]);
        Assert.Equal(0, Assert.Single(Assert.Single(offsets).Partitions).Offset.Value);
    }

    [Fact]
    public async Task DeleteTopics_OfManyPartitions_AnswersSuccessAndRemovesEveryLogDirectory()
    {
        await using var broker = await TestBroker.StartAsync();
        using var admin = Admin(broker);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "wide", NumPartitions = 2_000, ReplicationFactor = 1 }]);

        // The broker opens the logs as it applies the new image, which may finish just after the answer.
        var created = DateTime.UtcNow.AddSeconds(60);
        while (Directory.EnumerateDirectories(broker.DataDir, "wide-*").Count() < 2_000 && DateTime.UtcNow < created)
        {
            await Task.Delay(100);
        }

        Assert.Equal(2_000, Directory.EnumerateDirectories(broker.DataDir, "wide-*").Count());

        await admin.DeleteTopicsAsync(["wide"]);

        // The answer is success and the topic is gone at once; the directories go in the background.
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "wide");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Directory.EnumerateDirectories(broker.DataDir, "wide-*").Any() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Empty(Directory.EnumerateDirectories(broker.DataDir, "wide-*"));
    }

    [Fact]
    public async Task ATopicCreatedAgainUnderTheSameName_StartsEmpty_AndItsLogRecordsTheNewTopicId()
    {
        await using var broker = await TestBroker.StartAsync();
        using var admin = Admin(broker);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "reborn", NumPartitions = 1, ReplicationFactor = 1 }]);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            await producer.ProduceAsync("reborn", new Message<Null, string> { Value = "old" });
        }

        await admin.DeleteTopicsAsync(["reborn"]);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "reborn", NumPartitions = 1, ReplicationFactor = 1 }]);
        var topicId = (await admin.DescribeTopicsAsync(TopicCollection.OfTopicNames(["reborn"]))).TopicDescriptions.Single().TopicId;

        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "unused" }).Build();
        var watermarks = consumer.QueryWatermarkOffsets(new TopicPartition("reborn", 0), TimeSpan.FromSeconds(10));
        Assert.Equal(0, watermarks.Low.Value);
        Assert.Equal(0, watermarks.High.Value);
        var metadata = await File.ReadAllTextAsync(Path.Combine(broker.DataDir, "reborn-0", LogManager.PartitionMetadataFileName));
        // Kafka writes the id URL-safe (its Uuid.toString); Confluent.Kafka's Uuid prints plain base64.
        var kafkaForm = topicId.ToString().Replace('+', '-').Replace('/', '_');
        Assert.Contains($"topic_id: {kafkaForm}", metadata, StringComparison.Ordinal);
    }

    private static IAdminClient Admin(TestBroker broker) =>
        new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
}
