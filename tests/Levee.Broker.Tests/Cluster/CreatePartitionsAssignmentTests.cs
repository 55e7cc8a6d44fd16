using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests.Cluster;

/// <summary>
/// Issue 15: CreatePartitions with a manual replica assignment, from Confluent.Kafka's AdminClient on a 3-broker
/// cluster. An assignment naming a broker that does not exist was answered NONE and the partition put on broker 1;
/// Kafka refuses it with INVALID_REPLICA_ASSIGNMENT, validate-only or not, and honours a valid one.
/// </summary>
public sealed class CreatePartitionsAssignmentTests
{
    [Fact]
    public async Task AManualAssignment_IsHonoured_AndAnInvalidOneRefusedAsKafkaDoes()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "assigned", NumPartitions = 1, ReplicationFactor = 2 }]);

        foreach (var validateOnly in new[] { true, false })
        {
            await AssertRefusedAsync(admin, 2, [[42, 1]], validateOnly, "broker 42, but no such broker is registered");
        }

        await AssertRefusedAsync(admin, 2, [[2, 3, 1]], validateOnly: false, "with 3 replica(s), but this is not consistent with previous partitions, which have 2");
        await AssertRefusedAsync(admin, 2, [[2, 2]], validateOnly: false, "the broker 2 more than once");
        await AssertRefusedAsync(admin, 2, [[2, 3], [3, 1]], validateOnly: false, "Attempted to add 1 additional partition(s), but only 2 assignment(s) were specified");

        // Nothing of the refused ones was applied.
        Assert.Single(Partitions(admin));

        await admin.CreatePartitionsAsync([new PartitionsSpecification { Topic = "assigned", IncreaseTo = 3, ReplicaAssignments = [[3, 1], [2, 3]] }]);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var partitions = Partitions(admin);
        while (partitions.Count < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            partitions = Partitions(admin);
        }

        Assert.Equal(3, partitions.Count);
        Assert.Equal([3, 1], partitions[1].Replicas);
        Assert.Equal([2, 3], partitions[2].Replicas);
        Assert.Equal(3, partitions[1].Leader);
        Assert.Equal(2, partitions[2].Leader);
    }

    private static List<PartitionMetadata> Partitions(IAdminClient admin) =>
        [.. admin.GetMetadata("assigned", TimeSpan.FromSeconds(10)).Topics.Single().Partitions.OrderBy(p => p.PartitionId)];

    private static async Task AssertRefusedAsync(IAdminClient admin, int increaseTo, List<List<int>> assignment, bool validateOnly, string message)
    {
        var refused = await Assert.ThrowsAsync<CreatePartitionsException>(() => admin.CreatePartitionsAsync(
            [new PartitionsSpecification { Topic = "assigned", IncreaseTo = increaseTo, ReplicaAssignments = assignment }],
            new CreatePartitionsOptions { ValidateOnly = validateOnly }));
        var result = refused.Results.Single();
        Assert.Equal(ErrorCode.InvalidReplicaAssignment, result.Error.Code);
        Assert.Contains(message, result.Error.Reason, StringComparison.Ordinal);
    }
}
