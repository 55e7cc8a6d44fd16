using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Cluster;

/// <summary>
/// Issue 15: right after CreateTopics answers, the other brokers of a 3-broker cluster are asked for the new
/// topic's metadata at once, as kafkajs does. Kafka answers a topic it does not know yet with LEADER_NOT_AVAILABLE
/// when the request allows automatic creation (the client retries it), UNKNOWN_TOPIC_OR_PARTITION otherwise.
/// </summary>
public sealed class NewTopicMetadataTests
{
    private const short MetadataVersion = 12;
    private const short CreateTopicsVersion = 7;

    [Fact]
    public async Task MetadataForATopicJustCreated_OnEveryOtherBroker_IsNeverUnknown_WhenCreationIsAllowed()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var brokers = cluster.Brokers.Select(b => b!).ToArray();
        using var creator = await RawKafkaClient.ConnectAsync(brokers[0].BootstrapServers);
        var others = await Task.WhenAll(brokers.Skip(1).Select(b => RawKafkaClient.ConnectAsync(b.BootstrapServers)));
        try
        {
            var answers = new List<(string Topic, int Broker, KafkaErrorCode Error)>();
            for (var i = 0; i < 20; i++)
            {
                var topic = "fresh-" + i;
                Assert.Equal(KafkaErrorCode.None, await CreateAsync(creator, topic));
                var replies = await Task.WhenAll(others.Select(c => MetadataAsync(c, topic, allowAutoCreation: true)));
                answers.AddRange(replies.Select((e, b) => (topic, b + 2, e)));
            }

            Assert.DoesNotContain(answers, a => a.Error == KafkaErrorCode.UnknownTopicOrPartition);
            Assert.All(answers, a => Assert.True(a.Error is KafkaErrorCode.None or KafkaErrorCode.LeaderNotAvailable, $"{a.Topic} on broker {a.Broker}: {a.Error}"));
        }
        finally
        {
            foreach (var client in others)
            {
                client.Dispose();
            }
        }
    }

    private static async Task<KafkaErrorCode> CreateAsync(RawKafkaClient client, string topic)
    {
        var request = new CreateTopicsRequest { TimeoutMs = 30_000 };
        request.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 1, ReplicationFactor = 3 });
        var id = await client.SendAsync(ApiKey.CreateTopics, CreateTopicsVersion, (ref KafkaWriter w) => request.Write(ref w, CreateTopicsVersion));
        var body = await client.ReceiveAsync(ApiKey.CreateTopics, CreateTopicsVersion, id);
        var reader = new KafkaReader(body);
        return (KafkaErrorCode)CreateTopicsResponse.Read(ref reader, CreateTopicsVersion).Topics.Single().ErrorCode;
    }

    private static async Task<KafkaErrorCode> MetadataAsync(RawKafkaClient client, string topic, bool allowAutoCreation)
    {
        var request = new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }], AllowAutoTopicCreation = allowAutoCreation };
        var id = await client.SendAsync(ApiKey.Metadata, MetadataVersion, (ref KafkaWriter w) => request.Write(ref w, MetadataVersion));
        var body = await client.ReceiveAsync(ApiKey.Metadata, MetadataVersion, id);
        var reader = new KafkaReader(body);
        return (KafkaErrorCode)MetadataResponse.Read(ref reader, MetadataVersion).Topics.Single().ErrorCode;
    }
}
