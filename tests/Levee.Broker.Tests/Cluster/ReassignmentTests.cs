using System.Collections.Concurrent;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Cluster;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Cluster;

/// <summary>
/// Issue 12 item 4 and issue 15 item 3: AlterPartitionReassignments and ListPartitionReassignments (KIP-455) and
/// ElectLeaders (KIP-460) on a real 3-broker cluster, over TCP with Levee's own client and Confluent.Kafka.
/// </summary>
public sealed class ReassignmentTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Reassignment_MovesAPartitionOffItsLeader_WhileAcksAllProduceGoesOn_AndLosesNothing()
    {
        // A throttle of 256 KiB/s on a 1 MiB log keeps the move in progress for seconds: List sees it.
        await using var cluster = await TestCluster.StartAsync(3, o => o with { LeaderReplicationThrottledRate = 256 * 1024 });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "moving", NumPartitions = 1, ReplicationFactor = -1, ReplicasAssignments = new Dictionary<int, List<int>> { [0] = [1, 2] } }]);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, Acks = Acks.All, EnableIdempotence = true }).Build();
        var acked = new ConcurrentBag<string>();
        var padding = new string('x', 1000);
        for (var i = 0; i < 1000; i++)
        {
            var value = string.Create(CultureInfo.InvariantCulture, $"before-{i}-{padding}");
            producer.Produce("moving", new Message<Null, string> { Value = value }, report =>
            {
                if (report.Error.Code == Confluent.Kafka.ErrorCode.NoError)
                {
                    acked.Add(report.Message.Value);
                }
            });
        }

        producer.Flush(Deadline);
        Assert.Equal(1000, acked.Count);

        using var stop = new CancellationTokenSource();
        var live = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var value = string.Create(CultureInfo.InvariantCulture, $"during-{i}");
                var result = await producer.ProduceAsync("moving", new Message<Null, string> { Value = value });
                acked.Add(result.Message.Value);
            }
        });

        await using var client = Client(cluster, 2);
        var altered = await AlterAsync(client, "moving", 0, [2, 3]);
        Assert.Equal(Levee.Protocol.ErrorCode.None, altered.Error);

        var listed = await ListAsync(client);
        var ongoing = Assert.Single(Assert.Single(listed.Topics).Partitions);
        Assert.Equal([2, 3, 1], ongoing.Replicas);
        Assert.Equal([3], ongoing.AddingReplicas);
        Assert.Equal([1], ongoing.RemovingReplicas);

        await WaitForAsync(async () => (await ListAsync(client)).Topics.Count == 0, "the reassignment to complete");
        await WaitForAsync(() => Task.FromResult(cluster.Brokers.All(b => b!.Replicas.Image.GetPartition("moving", 0) is { } p && p.Replicas.SequenceEqual([2, 3]) && p.Leader is 2 or 3)), "every broker to see replicas [2, 3]");

        // Broker 1 no longer holds the partition; every record acknowledged before, during and after the move is there.
        await WaitForAsync(() => Task.FromResult(!cluster.Brokers[0]!.Replicas.TryGetPartition("moving", 0, out _)), "broker 1 to drop its replica");
        await stop.CancelAsync();
        await live;
        Assert.Contains(acked, v => v.StartsWith("during-", StringComparison.Ordinal));
        var read = ReadAll(cluster, acked.Count);
        Assert.Empty(acked.Except(read));
    }

    [Fact]
    public async Task Reassignment_IsRefusedAsKafkaRefusesIt_GuardedByHeadroom_AndCancelled()
    {
        // Three replicas a broker; the guard keeps each under 2.4 after any single failure.
        await using var cluster = await TestCluster.StartAsync(3, o => o with { BrokerCapacityPartitions = 3 });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([
            new TopicSpecification { Name = "cancelled", NumPartitions = 1, ReplicationFactor = -1, ReplicasAssignments = new Dictionary<int, List<int>> { [0] = [1, 2] } },
            new TopicSpecification { Name = "crowded", NumPartitions = 2, ReplicationFactor = -1, ReplicasAssignments = new Dictionary<int, List<int>> { [0] = [2], [1] = [3] } },
        ]);
        await using var client = Client(cluster, 1);

        Assert.Equal(Levee.Protocol.ErrorCode.InvalidReplicaAssignment, (await AlterAsync(client, "cancelled", 0, [1, 42])).Error);
        Assert.Equal(Levee.Protocol.ErrorCode.InvalidReplicaAssignment, (await AlterAsync(client, "cancelled", 0, [2, 2])).Error);
        Assert.Equal(Levee.Protocol.ErrorCode.UnknownTopicOrPartition, (await AlterAsync(client, "cancelled", 7, [1, 2])).Error);
        Assert.Equal(Levee.Protocol.ErrorCode.UnknownTopicOrPartition, (await AlterAsync(client, "nowhere", 0, [1, 2])).Error);
        Assert.Equal(Levee.Protocol.ErrorCode.NoReassignmentInProgress, (await AlterAsync(client, "cancelled", 0, null)).Error);

        var refused = await AlterAsync(client, "crowded", 1, [2]);
        Assert.Equal(Levee.Protocol.ErrorCode.PolicyViolation, refused.Error);
        Assert.Contains("Reassigning partition crowded-1 to [2] would", refused.Message, StringComparison.Ordinal);
        Assert.Contains("broker 2", refused.Message, StringComparison.Ordinal);
        Assert.Contains("broker.capacity.partitions", refused.Message, StringComparison.Ordinal);
        Assert.Equal([3], cluster.Brokers[0]!.Replicas.Image.GetPartition("crowded", 1)!.Replicas.ToArray());

        // A target on a broker that is down never catches up: the reassignment stays in progress until cancelled.
        await cluster.StopAsync(3);
        await WaitForAsync(() => Task.FromResult(cluster.Brokers[0]!.Replicas.Image.Brokers[3].Fenced), "broker 3 to be fenced");
        Assert.Equal(Levee.Protocol.ErrorCode.None, (await AlterAsync(client, "cancelled", 0, [1, 3])).Error);
        var ongoing = Assert.Single(Assert.Single((await ListAsync(client)).Topics).Partitions);
        Assert.Equal([1, 3, 2], ongoing.Replicas);
        Assert.Equal([3], ongoing.AddingReplicas);
        Assert.Equal([2], ongoing.RemovingReplicas);

        Assert.Equal(Levee.Protocol.ErrorCode.None, (await AlterAsync(client, "cancelled", 0, null)).Error);
        Assert.Empty((await ListAsync(client)).Topics);

        // The cancellation is committed by the controller; this broker's image follows it shortly.
        await WaitForAsync(() => Task.FromResult(cluster.Brokers[0]!.Replicas.Image.GetPartition("cancelled", 0)!.Replicas.Length == 2), "the cancellation to reach broker 1's image");
        var reverted = cluster.Brokers[0]!.Replicas.Image.GetPartition("cancelled", 0)!;
        Assert.Equal([1, 2], reverted.Replicas.ToArray());
        Assert.Equal([1, 2], reverted.Isr.Order().ToArray());
    }

    [Fact]
    public async Task ElectLeaders_FromConfluentAdmin_ReturnsThePreferredLeader_AndAnswersAsKafka()
    {
        await using var cluster = await TestCluster.StartAsync(3, o => o with { LeaderImbalanceCheckIntervalSeconds = 3600 });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "elected", NumPartitions = 2, ReplicationFactor = -1, ReplicasAssignments = new Dictionary<int, List<int>> { [0] = [1, 2], [1] = [2, 3] } }]);
        var partition = new TopicPartition("elected", 0);

        Assert.Equal(Confluent.Kafka.ErrorCode.ElectionNotNeeded, await ElectAsync(cluster, ElectionType.Preferred, partition));
        Assert.Equal(Confluent.Kafka.ErrorCode.ElectionNotNeeded, await ElectAsync(cluster, ElectionType.Unclean, partition));
        Assert.Equal(Confluent.Kafka.ErrorCode.UnknownTopicOrPart, await ElectAsync(cluster, ElectionType.Preferred, new TopicPartition("elected", 9)));

        // Broker 1 stops: its leadership moves to 2 and stays there (the automatic rebalance waits an hour).
        await cluster.StopAsync(1);
        await WaitForAsync(() => Task.FromResult(cluster.Brokers[1]!.Replicas.Image.GetPartition("elected", 0)!.Leader == 2), "leadership to move to broker 2");
        await using (var client = Client(cluster, 2))
        {
            // NOT_CONTROLLER (retriable, as clients treat it) while the quorum elects a successor to broker 1: asked again.
            var request = new ElectLeadersRequest { ElectionType = 0, TopicPartitions = [new ElectLeadersRequest.TopicPartitionsData { Topic = "elected", Partitions = [0] }] };
            ElectLeadersResponse response = null!;
            await WaitForAsync(
                async () => (response = await client.SendAsync<ElectLeadersRequest, ElectLeadersResponse>(ApiKey.ElectLeaders, 2, request, CancellationToken.None)).ErrorCode != (short)Levee.Protocol.ErrorCode.NotController,
                "a controller to answer ElectLeaders");
            Assert.Equal(0, response.ErrorCode);
            Assert.Equal((short)Levee.Protocol.ErrorCode.PreferredLeaderNotAvailable, Assert.Single(Assert.Single(response.ReplicaElectionResults).PartitionResult).ErrorCode);
        }

        await cluster.RestartAsync(1);
        await WaitForAsync(() => Task.FromResult(cluster.Brokers[1]!.Replicas.Image.GetPartition("elected", 0)!.Isr.Contains(1)), "broker 1 to rejoin the ISR");
        Assert.Equal(Confluent.Kafka.ErrorCode.NoError, await ElectAsync(cluster, ElectionType.Preferred, partition));
        await WaitForAsync(() => Task.FromResult(cluster.Brokers.All(b => b!.Replicas.Image.GetPartition("elected", 0)!.Leader == 1)), "every broker to see broker 1 lead again");

        // Every partition (a null list) with nothing to do: nothing is reported.
        using var everyone = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        var all = await everyone.ElectLeadersAsync(ElectionType.Preferred, null);
        Assert.Empty(all.TopicPartitions);
    }

    // One partition's election from a new AdminClient of the brokers running now. librdkafka sends ElectLeaders to the
    // controller its Metadata named; while the metadata quorum elects a new leader (broker 1 stopped or restarted) the
    // request can time out waiting for one: asked again until the deadline.
    private static async Task<Confluent.Kafka.ErrorCode> ElectAsync(TestCluster cluster, ElectionType type, TopicPartition partition)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
            try
            {
                var result = await admin.ElectLeadersAsync(type, [partition], new ElectLeadersOptions { RequestTimeout = TimeSpan.FromSeconds(15) });
                return Assert.Single(result.TopicPartitions).Error.Code;
            }
            catch (ElectLeadersException ex)
            {
                return Assert.Single(ex.Results.TopicPartitions).Error.Code;
            }
            catch (KafkaException) when (DateTime.UtcNow < deadline)
            {
                // No controller answered in time: ask again.
            }
        }
    }

    private static BrokerClient Client(TestCluster cluster, int nodeId)
    {
        var broker = cluster.Brokers[nodeId - 1]!;
        return new BrokerClient(broker.Identity.Host, broker.Identity.Port, "reassignment-tests", Deadline);
    }

    private static async Task<(Levee.Protocol.ErrorCode Error, string? Message)> AlterAsync(BrokerClient client, string topic, int partition, int[]? replicas)
    {
        var request = new AlterPartitionReassignmentsRequest();
        request.Topics.Add(new AlterPartitionReassignmentsRequest.ReassignableTopic
        {
            Name = topic,
            Partitions = [new AlterPartitionReassignmentsRequest.ReassignablePartition { PartitionIndex = partition, Replicas = replicas?.ToList() }],
        });
        var response = await client.SendAsync<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse>(ApiKey.AlterPartitionReassignments, 0, request, CancellationToken.None);
        Assert.Equal(0, response.ErrorCode);
        var result = Assert.Single(Assert.Single(response.Responses).Partitions);
        return ((Levee.Protocol.ErrorCode)result.ErrorCode, result.ErrorMessage);
    }

    private static async Task<ListPartitionReassignmentsResponse> ListAsync(BrokerClient client)
    {
        var response = await client.SendAsync<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse>(ApiKey.ListPartitionReassignments, 0, new ListPartitionReassignmentsRequest(), CancellationToken.None);
        Assert.Equal(0, response.ErrorCode);
        return response;
    }

    private static HashSet<string> ReadAll(TestCluster cluster, int count)
    {
        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "reassignment-check", EnableAutoCommit = false }).Build();
        consumer.Assign(new TopicPartitionOffset("moving", 0, Offset.Beginning));
        var read = new HashSet<string>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + Deadline;
        while (read.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { Message: { } message })
            {
                read.Add(message.Value);
            }
        }

        return read;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for {what}.");
            await Task.Delay(100);
        }
    }
}
