using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Cluster;

/// <summary>
/// kafkajs's own suite (broker/__tests__/deleteRecords.spec.js) sends DeleteRecords to a broker that is not the
/// partition's leader and expects NOT_LEADER_OR_FOLLOWER, as Kafka answers for a partition the cluster has but the
/// broker holds no replica of (ReplicaManager.getPartitionOrError); Levee answered UNKNOWN_TOPIC_OR_PARTITION.
/// </summary>
public sealed class DeleteRecordsRoutingTests
{
    private const short Version = 2;

    [Fact]
    public async Task DeleteRecords_OnABrokerWithoutAReplica_IsNotLeaderOrFollower_AndAnUnknownPartitionIsUnknown()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        const string topic = "one-replica";
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, Acks = Acks.All }).Build())
        {
            await producer.ProduceAsync(topic, new Message<Null, string> { Value = "a" });
            await producer.ProduceAsync(topic, new Message<Null, string> { Value = "b" });
        }

        var brokers = cluster.Brokers.Select(b => b!).ToArray();
        foreach (var broker in brokers)
        {
            await WaitUntilKnownAsync(broker, topic);
        }

        var leader = brokers[0].Replicas.Image.GetPartition(topic, 0)!.Leader;
        foreach (var broker in brokers)
        {
            using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
            var answers = await DeleteAsync(client, topic, (0, 1), (7, 0));
            var isLeader = broker.Identity.NodeId == leader;
            Assert.Equal(isLeader ? KafkaErrorCode.None : KafkaErrorCode.NotLeaderOrFollower, answers[0].Error);
            Assert.Equal(isLeader ? 1 : -1, answers[0].LowWatermark);
            Assert.Equal(KafkaErrorCode.UnknownTopicOrPartition, answers[7].Error);

            // ListOffsets answers the same way (kafkajs's suite found DeleteRecords; Kafka's getPartitionOrError serves both).
            var offsets = await ListLatestAsync(client, topic, 0, 7);
            Assert.Equal(isLeader ? KafkaErrorCode.None : KafkaErrorCode.NotLeaderOrFollower, offsets[0]);
            Assert.Equal(KafkaErrorCode.UnknownTopicOrPartition, offsets[7]);
        }
    }

    private static async Task<Dictionary<int, KafkaErrorCode>> ListLatestAsync(RawKafkaClient client, string topic, params int[] partitions)
    {
        const short version = 7;
        var request = new ListOffsetsRequest { ReplicaId = -1 };
        request.Topics.Add(new ListOffsetsRequest.ListOffsetsTopic
        {
            Name = topic,
            Partitions = [.. partitions.Select(p => new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = p, Timestamp = -1 })],
        });
        var id = await client.SendAsync(ApiKey.ListOffsets, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.ListOffsets, version, id);
        var reader = new KafkaReader(body);
        return ListOffsetsResponse.Read(ref reader, version).Topics.Single().Partitions.ToDictionary(p => p.PartitionIndex, p => (KafkaErrorCode)p.ErrorCode);
    }

    private static async Task WaitUntilKnownAsync(LeveeBroker broker, string topic)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (broker.Replicas.Image.GetPartition(topic, 0) is null)
        {
            await Task.Delay(10, deadline.Token);
        }
    }

    private static async Task<Dictionary<int, (KafkaErrorCode Error, long LowWatermark)>> DeleteAsync(RawKafkaClient client, string topic, params (int Partition, long Offset)[] partitions)
    {
        var request = new DeleteRecordsRequest { TimeoutMs = 10_000 };
        request.Topics.Add(new DeleteRecordsRequest.DeleteRecordsTopic
        {
            Name = topic,
            Partitions = [.. partitions.Select(p => new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = p.Partition, Offset = p.Offset })],
        });
        var id = await client.SendAsync(ApiKey.DeleteRecords, Version, (ref KafkaWriter w) => request.Write(ref w, Version));
        var body = await client.ReceiveAsync(ApiKey.DeleteRecords, Version, id);
        var reader = new KafkaReader(body);
        return DeleteRecordsResponse.Read(ref reader, Version).Topics.Single().Partitions
            .ToDictionary(p => p.PartitionIndex, p => ((KafkaErrorCode)p.ErrorCode, p.LowWatermark));
    }
}
