using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Groups.GroupTestSupport;
using ErrorCode = Levee.Protocol.ErrorCode;
using TopicPartition = Confluent.Kafka.TopicPartition;

namespace Levee.Broker.Tests.Groups;

/// <summary>The group coordinator in a three-broker cluster: it lives where the group's __consumer_offsets partition is led.</summary>
public sealed class GroupClusterTests
{
    private const int OffsetsPartitions = 3;

    [Fact]
    public async Task CoordinatorFailover_NewCoordinatorServesTheCommittedOffsets()
    {
        const string topic = "orders";
        var clusterId = Convert.ToBase64String(Guid.NewGuid().ToByteArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        await using var cluster = await TestCluster.StartAsync(3, o => o with
        {
            ClusterId = clusterId,
            GroupInitialRebalanceDelayMs = 200,
            OffsetsTopicPartitions = OffsetsPartitions,
        });
        var bootstrap = string.Join(",", cluster.Brokers.Select(b => b!.BootstrapServers));
        int controllerId;
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 3 }]);
            controllerId = (await admin.DescribeClusterAsync()).Controller.Id;
        }

        // The first FindCoordinator creates __consumer_offsets (forwarded to the controller when asked elsewhere).
        var asked = cluster.Brokers.First(b => b!.Identity.NodeId != controllerId)!;
        using (var raw = await RawKafkaClient.ConnectAsync(asked.BootstrapServers))
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while ((await raw.CallAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 3, new FindCoordinatorRequest { Key = "probe" })).ErrorCode != 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "FindCoordinator never succeeded.");
                await Task.Delay(100);
            }
        }

        // A group coordinated by a broker that is not the active controller: stopping the controller is the
        // quorum's failover, covered by the cluster tests, and its shutdown is slower.
        var groupId = Enumerable.Range(0, 100).Select(i => $"failover-group-{i}").First(g =>
            cluster.Brokers[0]!.Replicas.Image.TopicsByName[GroupCoordinator.OffsetsTopic].Partitions[GroupCoordinator.PartitionFor(g, OffsetsPartitions)].Leader is var leader &&
            leader >= 0 && leader != controllerId);

        await ProduceAsync(bootstrap, topic, partitions: 2, perPartition: 10);

        // A consumer group commits offsets of its own choosing on both partitions.
        using (var consumer = NewConsumer(bootstrap, groupId))
        {
            consumer.Subscribe(topic);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (consumer.Consume(TimeSpan.FromMilliseconds(200)) is null || consumer.Assignment.Count < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "The first consumer never got its assignment.");
            }

            consumer.Commit([new TopicPartitionOffset(topic, 0, 3), new TopicPartitionOffset(topic, 1, 7)]);
            consumer.Close();
        }
        // __consumer_offsets has replication factor min(3, brokers) and the coordinator is its partition's leader.
        var image = cluster.Brokers[0]!.Replicas.Image;
        var offsetsTopic = image.TopicsByName[GroupCoordinator.OffsetsTopic];
        var state = offsetsTopic.Partitions[GroupCoordinator.PartitionFor(groupId, OffsetsPartitions)];
        Assert.Equal(3, state.Replicas.Length);
        var coordinatorId = state.Leader;
        var coordinator = cluster.Brokers.Single(b => b!.Identity.NodeId == coordinatorId)!;
        var other = cluster.Brokers.First(b => b!.Identity.NodeId != coordinatorId)!;
        using (var raw = await RawKafkaClient.ConnectAsync(other.BootstrapServers))
        {
            // Any broker names the leader as coordinator; a broker that does not lead the partition refuses the group.
            var found = await raw.CallAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 3, new FindCoordinatorRequest { Key = groupId });
            Assert.Equal(0, found.ErrorCode);
            Assert.Equal(coordinatorId, found.NodeId);
            Assert.Equal(coordinator.Identity.Port, found.Port);
            var fetched = await raw.CallAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 8, new OffsetFetchRequest { Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = groupId }] });
            Assert.Equal(ErrorCode.NotCoordinator, (ErrorCode)fetched.Groups.Single().ErrorCode);
        }

        // The coordinator's broker stops: controlled shutdown moves its leaderships to in-sync followers.
        await cluster.StopAsync(coordinatorId);
        var survivor = cluster.Brokers.First(b => b is not null)!;
        await WaitUntilAsync(
            () => survivor.Replicas.Image.TopicsByName[GroupCoordinator.OffsetsTopic].Partitions[state.PartitionId].Leader is var leader && leader >= 0 && leader != coordinatorId,
            TimeSpan.FromSeconds(20),
            () => $"a new leader for {GroupCoordinator.OffsetsTopic}-{state.PartitionId}");
        // A new consumer of the group, talking only to the survivors, resumes from the committed offsets.
        var survivors = string.Join(",", cluster.Brokers.Where(b => b is not null).Select(b => b!.BootstrapServers));
        using (var consumer = NewConsumer(survivors, groupId))
        {
            consumer.Subscribe(topic);
            var first = new Dictionary<int, long>();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (first.Count < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, $"The second consumer read only partitions [{string.Join(",", first.Keys)}].");
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { } result)
                {
                    first.TryAdd(result.Partition.Value, result.Offset.Value);
                }
            }

            Assert.Equal(3, first[0]);
            Assert.Equal(7, first[1]);
            var committed = consumer.Committed([new TopicPartition(topic, 0), new TopicPartition(topic, 1)], TimeSpan.FromSeconds(10));
            Assert.Equal([3L, 7L], committed.OrderBy(c => c.Partition.Value).Select(c => c.Offset.Value));
            consumer.Close();
        }
    }

    [Fact]
    public async Task ConsumerProtocolGroup_CoordinatorStops_MembersKeepTheirPartitionsWithTheNewCoordinator()
    {
        const string topic = "kip848-failover";
        await using var cluster = await TestCluster.StartAsync(3, o => o with
        {
            GroupInitialRebalanceDelayMs = 200,
            OffsetsTopicPartitions = OffsetsPartitions,
            GroupConsumerHeartbeatIntervalMs = 300,
            GroupConsumerSessionTimeoutMs = 10_000,
        });
        var bootstrap = cluster.BootstrapServers;
        int controllerId;
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 4, ReplicationFactor = 3 }]);
            controllerId = (await admin.DescribeClusterAsync()).Controller.Id;
        }

        await ProduceAsync(bootstrap, topic, partitions: 4, perPartition: 10);
        var ledger = new OwnershipLedger();
        var config = (string group) => new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = group,
            GroupProtocol = GroupProtocol.Consumer,
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        };

        // A group whose coordinator is not the controller (its stop is the quorum's failover, covered elsewhere).
        var groupId = await GroupNotCoordinatedByAsync(cluster, controllerId, "kip848-failover");
        // One member, then the other. Seen once with both started together while __consumer_offsets was being created:
        // the second got two partitions before the first had released them. The suspected cause is librdkafka's full
        // heartbeat after a coordinator error, which names the partitions it has finished taking (none, while it still
        // takes its first ones), and which the coordinator, as Kafka's, believes (docs/groups.md).
        using var first = new TrackedConsumer("c0", config(groupId), topic, ledger);
        await WaitUntilAsync(() => first.Owned.Count == 4, TimeSpan.FromSeconds(60), ledger.Describe);
        using var second = new TrackedConsumer("c1", config(groupId), topic, ledger);
        await WaitUntilAsync(() => first.Owned.Count == 2 && second.Owned.Count == 2, TimeSpan.FromSeconds(60), ledger.Describe);
        var coordinatorId = cluster.Brokers[0]!.Replicas.Image.TopicsByName[GroupCoordinator.OffsetsTopic].Partitions[GroupCoordinator.PartitionFor(groupId, OffsetsPartitions)].Leader;
        var owned = (first.Owned, second.Owned);

        await cluster.StopAsync(coordinatorId);
        await ProduceAsync(cluster.BootstrapServers, topic, partitions: 4, perPartition: 10);

        // The new coordinator loaded the members with their epochs: nobody rejoins, every partition stays where it was,
        // and the records produced after the failover are read by their owners.
        await WaitUntilAsync(
            () => first.Consumed.Concat(second.Consumed).Select(e => (e.Partition, e.Offset)).Distinct().Count() == 80,
            TimeSpan.FromSeconds(60),
            () => $"{first.Consumed.Concat(second.Consumed).Select(e => (e.Partition, e.Offset)).Distinct().Count()} of 80 records read; {ledger.Describe()}");
        Assert.Empty(ledger.Violations);
        Assert.True(owned.Item1.SetEquals(first.Owned) && owned.Item2.SetEquals(second.Owned), ledger.Describe());
    }

    /// <summary>Creates __consumer_offsets (the first FindCoordinator does) and names a group that <paramref name="brokerId"/> does not coordinate.</summary>
    private static async Task<string> GroupNotCoordinatedByAsync(TestCluster cluster, int brokerId, string prefix)
    {
        using (var raw = await RawKafkaClient.ConnectAsync(cluster.BootstrapServers.Split(',')[0]))
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while ((await raw.CallAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 3, new FindCoordinatorRequest { Key = "probe" })).ErrorCode != 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "FindCoordinator never succeeded.");
                await Task.Delay(100);
            }
        }

        var image = cluster.Brokers.First(b => b is not null)!.Replicas.Image;
        return Enumerable.Range(0, 100).Select(i => $"{prefix}-{i}").First(g =>
            image.TopicsByName[GroupCoordinator.OffsetsTopic].Partitions[GroupCoordinator.PartitionFor(g, OffsetsPartitions)].Leader is var leader &&
            leader >= 0 && leader != brokerId);
    }

    private static IConsumer<string, string> NewConsumer(string bootstrap, string groupId) =>
        new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = groupId,
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            SessionTimeoutMs = 10_000,
        }).Build();
}
