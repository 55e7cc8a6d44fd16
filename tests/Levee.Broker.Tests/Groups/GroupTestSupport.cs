using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using ErrorCode = Levee.Protocol.ErrorCode;
using TopicPartition = Confluent.Kafka.TopicPartition;

namespace Levee.Broker.Tests.Groups;

/// <summary>Broker settings, topic set-up and raw group requests shared by the group tests.</summary>
internal static class GroupTestSupport
{
    /// <summary>Group settings that keep tests quick: a short initial delay and few __consumer_offsets partitions.</summary>
    public static BrokerOptions Quick(BrokerOptions options) => options with
    {
        GroupInitialRebalanceDelayMs = 200,
        OffsetsTopicPartitions = 3,
    };

    public static async Task CreateTopicAsync(string bootstrap, string topic, int partitions)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]);
    }

    public static async Task ProduceAsync(string bootstrap, string topic, int partitions, int perPartition)
    {
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap, LingerMs = 5 }).Build();
        for (var p = 0; p < partitions; p++)
        {
            for (var i = 0; i < perPartition; i++)
            {
                producer.Produce(new TopicPartition(topic, p), new Message<string, string> { Key = $"k{i}", Value = $"p{p}-{i}" });
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        await Task.CompletedTask;
    }

    /// <summary>Waits for <paramref name="condition"/>, polling; fails with <paramref name="what"/> at the deadline.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out after {timeout.TotalSeconds:0.#} s waiting for: {what()}");
            await Task.Delay(25);
        }
    }

    /// <summary>The metadata of a consumer-protocol member subscribed to <paramref name="topics"/> (version 0).</summary>
    public static byte[] Subscription(params string[] topics)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(buffer);
        writer.WriteInt16(0);
        new ConsumerProtocolSubscription { Topics = [.. topics], UserData = [] }.Write(ref writer, 0);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The partitions in a consumer-protocol assignment.</summary>
    public static List<(string Topic, int Partition)> ReadAssignment(byte[] assignment)
    {
        if (assignment.Length == 0)
        {
            return [];
        }

        var reader = new KafkaReader(assignment);
        var version = reader.ReadInt16();
        var parsed = ConsumerProtocolAssignment.Read(ref reader, Math.Min(version, ConsumerProtocolAssignment.HighestVersion));
        return [.. parsed.AssignedPartitions.SelectMany(t => t.Partitions.Select(p => (t.Topic, p)))];
    }

    /// <summary>Sends one request and decodes the response.</summary>
    public static async Task<TResponse> CallAsync<TResponse>(this RawKafkaClient client, ApiKey key, short version, IKafkaMessage request)
        where TResponse : IKafkaMessage<TResponse>
    {
        var correlationId = await client.SendAsync(key, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(key, version, correlationId);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return TResponse.Read(ref reader, version);
    }

    /// <summary>JoinGroup v5 the way a client does it: the first request gets MEMBER_ID_REQUIRED and an id, the second joins.</summary>
    public static async Task<JoinGroupResponse> JoinAsync(this RawKafkaClient client, string group, string topic, int sessionTimeoutMs = 10_000, int rebalanceTimeoutMs = 10_000)
    {
        var request = new JoinGroupRequest
        {
            GroupId = group,
            SessionTimeoutMs = sessionTimeoutMs,
            RebalanceTimeoutMs = rebalanceTimeoutMs,
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = Subscription(topic) }],
        };
        var first = await client.CallAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, request);
        Assert.Equal(ErrorCode.MemberIdRequired, (ErrorCode)first.ErrorCode);
        Assert.NotEmpty(first.MemberId);
        request.MemberId = first.MemberId;
        return await client.CallAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, request);
    }

    public static Task<SyncGroupResponse> SyncAsync(this RawKafkaClient client, string group, int generation, string memberId, params (string MemberId, byte[] Assignment)[] assignments) =>
        client.CallAsync<SyncGroupResponse>(ApiKey.SyncGroup, 5, new SyncGroupRequest
        {
            GroupId = group,
            GenerationId = generation,
            MemberId = memberId,
            ProtocolType = "consumer",
            ProtocolName = "range",
            Assignments = [.. assignments.Select(a => new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = a.MemberId, Assignment = a.Assignment })],
        });

    public static async Task<ErrorCode> HeartbeatAsync(this RawKafkaClient client, string group, int generation, string memberId) =>
        (ErrorCode)(await client.CallAsync<HeartbeatResponse>(ApiKey.Heartbeat, 4, new HeartbeatRequest { GroupId = group, GenerationId = generation, MemberId = memberId })).ErrorCode;

    public static async Task<DescribeGroupsResponse.DescribedGroup> DescribeAsync(this RawKafkaClient client, string group) =>
        (await client.CallAsync<DescribeGroupsResponse>(ApiKey.DescribeGroups, 5, new DescribeGroupsRequest { Groups = [group] })).Groups.Single();

    public static async Task<ErrorCode> CommitAsync(this RawKafkaClient client, string group, int generation, string memberId, string topic, int partition, long offset, short version = 8)
    {
        var response = await client.CallAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, version, new OffsetCommitRequest
        {
            GroupId = group,
            GenerationIdOrMemberEpoch = generation,
            MemberId = memberId,
            Topics = [new OffsetCommitRequest.OffsetCommitRequestTopic { Name = topic, Partitions = [new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = partition, CommittedOffset = offset }] }],
        });
        return (ErrorCode)response.Topics.Single().Partitions.Single().ErrorCode;
    }

    public static async Task<long> FetchCommittedAsync(this RawKafkaClient client, string group, string topic, int partition)
    {
        var response = await client.CallAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 8, new OffsetFetchRequest
        {
            Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = [new OffsetFetchRequest.OffsetFetchRequestTopics { Name = topic, PartitionIndexes = [partition] }] }],
        });
        var g = response.Groups.Single();
        Assert.Equal(0, g.ErrorCode);
        return g.Topics.Single().Partitions.Single().CommittedOffset;
    }
}
