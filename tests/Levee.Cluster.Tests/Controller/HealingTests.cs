using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Tests.Controller;

/// <summary>Self-healing: a dead broker's replicas re-created on survivors, a bounded number at a time, never with two brokers down.</summary>
public sealed class HealingTests
{
    private static readonly AdminLimits Roomy = new();

    [Fact]
    public void ADeadBrokersReplicas_GoToSurvivorsWithoutThem_KeepingTheIsrAndLeader()
    {
        var image = Fence(WithTopic(TestImages.Cluster(4), 8, 3), 2);
        var step = Healing.Next(image, [2], Roomy, maxInFlight: 100);
        Assert.Null(step.Held);
        var healed = image.Apply(step.Decision.Records);
        var partitions = healed.TopicsByName["t"].Partitions.Values.ToList();
        Assert.Equal(partitions.Count(p => image.TopicsByName["t"].Partitions[p.PartitionId].Replicas.Contains(2)), step.Moves);
        Assert.All(partitions, p =>
        {
            Assert.DoesNotContain(2, p.Replicas);
            Assert.Equal(3, p.Replicas.Distinct().Count());
            Assert.Equal(image.TopicsByName["t"].Partitions[p.PartitionId].Leader, p.Leader);
            Assert.All(p.Isr, r => Assert.Contains(r, p.Replicas));
        });

        // The new replicas are catching up (not in the ISR): with room for none more, nothing else starts.
        Assert.Equal(0, Healing.Next(healed, [2], Roomy, maxInFlight: step.Moves).Moves);
    }

    [Fact]
    public void AtMostMaxInFlightReplicas_AreReCreatedAtOnce()
    {
        var image = Fence(WithTopic(TestImages.Cluster(5), 20, 3), 1);
        var step = Healing.Next(image, [1], Roomy, maxInFlight: 3);
        Assert.Equal(3, step.Moves);
        Assert.Equal(3, step.Decision.Records.Count);
    }

    [Fact]
    public void WithTwoBrokersDown_HealingPauses_AndSaysSo()
    {
        var image = Fence(Fence(WithTopic(TestImages.Cluster(5), 10, 3), 1), 2);
        var step = Healing.Next(image, [1], Roomy, maxInFlight: 100);
        Assert.Equal(0, step.Moves);
        Assert.Empty(step.Decision.Records);
        Assert.Equal("healing is paused: 2 brokers are down (1, 2); with more than one down, moving their replicas is left to an operator", step.Held);
    }

    [Fact]
    public void AStepThatWouldPutASurvivorOverItsBound_IsHeldBack_NamingIt()
    {
        // 4 brokers, 12 partitions of 3 replicas: 9 each; healing one broker's 9 puts 12 on each survivor, over 10.
        var limits = new AdminLimits(BrokerCapacity: BrokerCapacity.Unbounded with { Partitions = 12 }, HeadroomMargin: 0.2);
        var image = Fence(WithTopic(TestImages.Cluster(4), 12, 3), 3);
        var step = Healing.Next(image, [3], limits, maxInFlight: 100);
        Assert.Equal(0, step.Moves);
        Assert.Matches(@"^healing is held back: re-creating \d+ replica\(s\) would take broker \d to \d+ partitions, over 9\.6 \(broker\.capacity\.partitions less the headroom margin\)$", step.Held);
    }

    [Fact]
    public void APartitionWhoseOnlyInSyncCopyIsOnTheDeadBroker_IsLeftAlone()
    {
        var image = TestImages.Cluster(3);
        var id = Guid.NewGuid();
        image = image.Apply([new TopicRecord("single", id), new PartitionRecord(id, 0, [1, 2], [1], 1)]);
        image = Fence(image, 1);
        var step = Healing.Next(image, [1], Roomy, maxInFlight: 100);
        Assert.Equal(0, step.Moves);
    }

    private static MetadataImage WithTopic(MetadataImage image, int partitions, short rf) =>
        image.Apply(ControllerDecisions.CreateTopic(image, "t", Guid.NewGuid(), partitions, rf, null, new Dictionary<string, string>(), new Random(5)).Records);

    // What the controller commits when a broker's session times out: fenced, out of every ISR and leadership.
    private static MetadataImage Fence(MetadataImage image, int broker)
    {
        image = image.Apply(new FenceBrokerRecord(broker, broker * 10));
        return image.Apply(PartitionLeadership.RemoveBroker(image, broker));
    }
}
