using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using ErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests;

/// <summary>DescribeTopicPartitions (KIP-966): topics in name order, paged by partitions with a cursor, as Kafka answers.</summary>
public sealed class DescribeTopicPartitionsTests
{
    [Fact]
    public async Task NamedTopics_ComeInNameOrder_PagedByPartitions_WithACursor_AndUnknownOnesAnsweredAsSuch()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { AutoCreateTopics = false });
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync(
            [
                new TopicSpecification { Name = "alpha", NumPartitions = 3, ReplicationFactor = 1 },
                new TopicSpecification { Name = "beta", NumPartitions = 2, ReplicationFactor = 1 },
                new TopicSpecification { Name = "gamma", NumPartitions = 1, ReplicationFactor = 1 },
            ]);
        }

        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var topics = new[] { "gamma", "missing", "alpha", "beta" };
        var first = await DescribeAsync(client, topics, 4, null);
        Assert.Equal(["alpha 0,1,2", "beta 0"], first.Topics.Select(Text));
        Assert.Equal(("beta", 1), (first.NextCursor!.TopicName, first.NextCursor.PartitionIndex));
        var alpha = first.Topics[0];
        Assert.Equal(broker.Broker.Replicas.Image.TopicsByName["alpha"].Id, alpha.TopicId);
        var node = broker.Broker.Options.NodeId;
        Assert.All(alpha.Partitions, p => Assert.Equal($"0 {node} {node} {node}", $"{p.ErrorCode} {p.LeaderId} {string.Join(',', p.ReplicaNodes)} {string.Join(',', p.IsrNodes)}"));
        Assert.NotEqual(int.MinValue, alpha.TopicAuthorizedOperations);

        var second = await DescribeAsync(client, topics, 4, new DescribeTopicPartitionsRequest.CursorData { TopicName = "beta", PartitionIndex = 1 });
        Assert.Equal(["beta 1", "gamma 0", "missing"], second.Topics.Select(Text));
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, second.Topics[2].ErrorCode);
        Assert.Null(second.NextCursor);

        // Every topic when none is named (the internal ones marked so); a cursor naming a topic not asked for is refused.
        var all = await DescribeAsync(client, [], 2000, null);
        Assert.Equal(["alpha", "beta", "gamma"], all.Topics.Where(t => !t.IsInternal).Select(t => t.Name));
        Assert.All(all.Topics.Where(t => t.IsInternal), t => Assert.StartsWith("__", t.Name, StringComparison.Ordinal));
        var refused = await DescribeAsync(client, ["alpha"], 10, new DescribeTopicPartitionsRequest.CursorData { TopicName = "beta", PartitionIndex = 0 });
        Assert.Equal((short)ErrorCode.InvalidRequest, Assert.Single(refused.Topics).ErrorCode);
    }

    private static string Text(DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic topic) =>
        topic.ErrorCode != 0 ? topic.Name! : $"{topic.Name} {string.Join(',', topic.Partitions.Select(p => p.PartitionIndex))}";

    private static Task<DescribeTopicPartitionsResponse> DescribeAsync(RawKafkaClient client, IEnumerable<string> topics, int limit, DescribeTopicPartitionsRequest.CursorData? cursor) =>
        client.CallAsync<DescribeTopicPartitionsResponse>(ApiKey.DescribeTopicPartitions, 0, new DescribeTopicPartitionsRequest
        {
            Topics = [.. topics.Select(t => new DescribeTopicPartitionsRequest.TopicRequest { Name = t })],
            ResponsePartitionLimit = limit,
            Cursor = cursor,
        });
}
