using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Cluster.Tests.Controller;

/// <summary>KIP-455's reassignment as the controller's pure decisions: start, complete with the ISR, cancel, replace.</summary>
public sealed class PartitionReassignmentTests
{
    private static readonly Guid TopicId = Guid.NewGuid();

    [Fact]
    public void Reassignment_AddsThenCompletesWhenTheTargetIsInSync_MovingTheLeaderOffARemovedReplica()
    {
        var image = Topic([1, 2]);
        var started = Apply(image, PartitionReassignment.Alter(image, "t", 0, [2, 3], AdminLimits.Default));
        var p = started.GetPartition("t", 0)!;
        Assert.Equal([2, 3, 1], p.Replicas.ToArray());
        Assert.Equal([3], p.AddingReplicas.ToArray());
        Assert.Equal([1], p.RemovingReplicas.ToArray());
        Assert.Equal(1, p.Leader);

        // The snapshot keeps the reassignment.
        Assert.Equal(started.ToSnapshot(), MetadataImage.FromSnapshot(started.ToSnapshot()).ToSnapshot());

        // Broker 3 joins the ISR: the same commit completes the move, and leadership leaves broker 1.
        var done = Apply(started, ControllerDecisions.AlterIsr(started, TopicId, 0, 1, p.LeaderEpoch, p.PartitionEpoch, [1, 2, 3]));
        var moved = done.GetPartition("t", 0)!;
        Assert.Equal([2, 3], moved.Replicas.ToArray());
        Assert.Equal([2, 3], moved.Isr.Order().ToArray());
        Assert.Equal(2, moved.Leader);
        Assert.False(moved.IsReassigning);
    }

    [Fact]
    public void Cancel_RevertsToTheOriginalReplicas_AndANewTargetStartsFromThem()
    {
        var image = Topic([1, 2]);
        var started = Apply(image, PartitionReassignment.Alter(image, "t", 0, [1, 3], AdminLimits.Default));
        var replaced = Apply(started, PartitionReassignment.Alter(started, "t", 0, [2, 3], AdminLimits.Default));
        Assert.Equal([2, 3, 1], replaced.GetPartition("t", 0)!.Replicas.ToArray());
        Assert.Equal([1], replaced.GetPartition("t", 0)!.RemovingReplicas.ToArray());

        // As Kafka's revert: the replicas less those being added, in their current order.
        var cancelled = Apply(replaced, PartitionReassignment.Alter(replaced, "t", 0, null, AdminLimits.Default));
        Assert.Equal([2, 1], cancelled.GetPartition("t", 0)!.Replicas.ToArray());
        Assert.False(cancelled.GetPartition("t", 0)!.IsReassigning);
        Assert.Equal(ErrorCode.NoReassignmentInProgress, PartitionReassignment.Alter(cancelled, "t", 0, null, AdminLimits.Default).Error);
    }

    [Fact]
    public void DroppingAReplica_CompletesAtOnce()
    {
        var image = Topic([1, 2, 3]);
        var shrunk = Apply(image, PartitionReassignment.Alter(image, "t", 0, [3, 2], AdminLimits.Default)).GetPartition("t", 0)!;
        Assert.Equal([3, 2], shrunk.Replicas.ToArray());
        Assert.Equal(3, shrunk.Leader);
        Assert.False(shrunk.IsReassigning);
    }

    private static MetadataImage Topic(int[] replicas) => TestImages.Cluster(4).Apply([new TopicRecord("t", TopicId), new PartitionRecord(TopicId, 0, [.. replicas], [.. replicas], replicas[0])]);

    private static MetadataImage Apply(MetadataImage image, Decision decision)
    {
        Assert.Equal(ErrorCode.None, decision.Error);
        return image.Apply(decision.Records);
    }
}
