using CsCheck;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Cluster.Tests.Controller;

public sealed class ControllerDecisionTests
{
    [Fact]
    public void Placement_PutsReplicasOnDistinctBrokers_AndSpreadsLeadersEvenly()
    {
        Gen.Select(Gen.Int[1, 12], Gen.Int[1, 60], Gen.Int[0, 1000]).Where(t => t.Item1 >= 1).Sample((brokerCount, partitions, seed) =>
        {
            var brokers = Enumerable.Range(1, brokerCount).ToList();
            var rf = Math.Min(3, brokerCount);
            var assignment = ReplicaPlacement.Assign(Cluster(brokerCount), brokers, partitions, rf, new Random(seed));
            Assert.Equal(partitions, assignment.Count);
            Assert.All(assignment, replicas =>
            {
                Assert.Equal(rf, replicas.Length);
                Assert.Equal(rf, replicas.Distinct().Count());
                Assert.All(replicas, r => Assert.Contains(r, brokers));
            });

            var leaders = assignment.GroupBy(r => r[0]).Select(g => g.Count()).ToList();
            Assert.True(leaders.Max() - (leaders.Count < brokerCount ? 0 : leaders.Min()) <= 1, "leaders are not spread round-robin");
        });
    }

    [Fact]
    public void Placement_SpreadsOneBrokersFollowersOverManyBrokers()
    {
        var brokers = Enumerable.Range(1, 10).ToList();
        var assignment = ReplicaPlacement.Assign(Cluster(10), brokers, 100, 3, new Random(7));
        foreach (var broker in brokers)
        {
            // The brokers that follow this broker's leaders: losing it moves load onto all of them.
            var followers = assignment.Where(r => r[0] == broker).SelectMany(r => r.Skip(1)).Distinct().Count();
            Assert.True(followers >= 6, $"broker {broker}'s leaders are followed by only {followers} brokers");
        }
    }

    [Fact]
    public void CreateTopic_WithTooFewBrokers_IsRefusedWithInvalidReplicationFactor()
    {
        var image = Cluster(2);
        var decision = ControllerDecisions.CreateTopic(image, "t", Guid.NewGuid(), 3, 3, null, new Dictionary<string, string>(), new Random(1));
        Assert.Equal(ErrorCode.InvalidReplicationFactor, decision.Error);
        Assert.Empty(decision.Records);
    }

    [Fact]
    public void CreateTopic_ProducesTopicPartitionsAndConfigs_ThatApplyToTheImage()
    {
        var image = Cluster(3);
        var id = Guid.NewGuid();
        var decision = ControllerDecisions.CreateTopic(image, "orders", id, 6, 3, null, new Dictionary<string, string> { ["retention.ms"] = "1000" }, new Random(3));
        Assert.Equal(ErrorCode.None, decision.Error);
        var after = image.Apply(decision.Records);
        var topic = after.TopicsByName["orders"];
        Assert.Equal(6, topic.Partitions.Count);
        Assert.All(topic.Partitions.Values, p =>
        {
            Assert.Equal(p.Replicas, p.Isr);
            Assert.Equal(p.Replicas[0], p.Leader);
        });
        Assert.Equal("1000", after.GetConfigs(ConfigResourceType.Topic, "orders")["retention.ms"]);
        Assert.Equal(ErrorCode.TopicAlreadyExists, ControllerDecisions.CreateTopic(after, "orders", Guid.NewGuid(), 1, 1, null, new Dictionary<string, string>(), new Random(3)).Error);
    }

    [Fact]
    public void RemoveBroker_MovesLeadershipToAnotherIsrMember_AndShrinksTheIsr()
    {
        var image = WithTopic(Cluster(3), 12, 3);
        var fenced = image.Apply(new FenceBrokerRecord(2, image.Brokers[2].Epoch));
        var after = fenced.Apply(PartitionLeadership.RemoveBroker(fenced, 2));
        Assert.All(after.TopicsByName["t"].Partitions.Values, p =>
        {
            Assert.NotEqual(2, p.Leader);
            Assert.True(p.Leader >= 0);
            Assert.DoesNotContain(2, p.Isr);
            Assert.Contains(p.Leader, p.Isr);
        });
    }

    [Fact]
    public void RemoveBroker_ThatIsTheLastIsrMember_LeavesThePartitionOfflineWithItsIsr()
    {
        var image = WithTopic(Cluster(2), 1, 2);
        var p = image.TopicsByName["t"].Partitions[0];
        image = image.Apply(new PartitionChangeRecord(p.TopicId, 0, Isr: [p.Leader]));
        var leader = p.Leader;
        image = image.Apply(new FenceBrokerRecord(leader, image.Brokers[leader].Epoch));
        var after = image.Apply(PartitionLeadership.RemoveBroker(image, leader)).TopicsByName["t"].Partitions[0];
        Assert.Equal(-1, after.Leader);
        Assert.Equal([leader], after.Isr.ToArray());

        // When it comes back, the offline partition gets it as leader again (no unclean election).
        var back = image.Apply(new UnfenceBrokerRecord(leader, image.Brokers[leader].Epoch)).Apply(PartitionLeadership.RemoveBroker(image, leader));
        var elected = back.Apply(PartitionLeadership.ElectOffline(back)).TopicsByName["t"].Partitions[0];
        Assert.Equal(leader, elected.Leader);
    }

    [Fact]
    public void ElectPreferred_ReturnsLeadershipToTheFirstReplica()
    {
        var image = WithTopic(Cluster(3), 3, 3);
        var p = image.TopicsByName["t"].Partitions[0];
        var other = p.Replicas[1];
        image = image.Apply(new PartitionChangeRecord(p.TopicId, 0, Leader: other));
        Assert.Equal(other, image.TopicsByName["t"].Partitions[0].Leader);
        var after = image.Apply(PartitionLeadership.ElectPreferred(image)).TopicsByName["t"].Partitions[0];
        Assert.Equal(p.Replicas[0], after.Leader);
    }

    [Fact]
    public void AlterIsr_FromANonLeaderOrAtAStaleEpoch_IsRefused()
    {
        var image = WithTopic(Cluster(3), 1, 3);
        var p = image.TopicsByName["t"].Partitions[0];
        var follower = p.Replicas[1];
        Assert.Equal(ErrorCode.NotLeaderOrFollower, ControllerDecisions.AlterIsr(image, p.TopicId, 0, follower, p.LeaderEpoch, p.PartitionEpoch, [follower]).Error);
        Assert.Equal(ErrorCode.FencedLeaderEpoch, ControllerDecisions.AlterIsr(image, p.TopicId, 0, p.Leader, p.LeaderEpoch + 1, p.PartitionEpoch, [p.Leader]).Error);
        Assert.Equal(ErrorCode.InvalidUpdateVersion, ControllerDecisions.AlterIsr(image, p.TopicId, 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch + 1, [p.Leader]).Error);
        Assert.Equal(ErrorCode.InvalidRequest, ControllerDecisions.AlterIsr(image, p.TopicId, 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, [follower]).Error);

        var shrink = ControllerDecisions.AlterIsr(image, p.TopicId, 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, [p.Leader]);
        Assert.Equal(ErrorCode.None, shrink.Error);
        Assert.Equal([p.Leader], image.Apply(shrink.Records).TopicsByName["t"].Partitions[0].Isr.ToArray());
    }

    [Fact]
    public void CreateTopic_OverTheRecordBound_IsRefusedWithPolicyViolationBeforeAnyPlacement()
    {
        var image = Cluster(3);
        var limits = new AdminLimits(MaxRecordsPerUserOp: 10_000, MaxPartitionsPerTopic: 1_000_000);

        var decision = ControllerDecisions.CreateTopic(image, "huge", Guid.NewGuid(), 100_000, 3, null, new Dictionary<string, string>(), new Random(1), limits);

        Assert.Equal(ErrorCode.PolicyViolation, decision.Error);
        Assert.StartsWith(AdminLimits.ExcessiveBatchMessage, decision.Message, StringComparison.Ordinal);
        Assert.Empty(decision.Records);
    }

    [Fact]
    public void CreateTopic_AtTheRecordBound_IsAccepted_AndOneMoreRecordIsNot()
    {
        var image = Cluster(1);
        var limits = new AdminLimits(MaxRecordsPerUserOp: 11);
        var configs = new Dictionary<string, string> { ["retention.ms"] = "1000" };

        // 1 topic record + 9 partitions + 1 config = 11.
        Assert.Equal(ErrorCode.None, ControllerDecisions.CreateTopic(image, "fits", Guid.NewGuid(), 9, 1, null, configs, new Random(1), limits).Error);
        Assert.Equal(ErrorCode.PolicyViolation, ControllerDecisions.CreateTopic(image, "over", Guid.NewGuid(), 10, 1, null, configs, new Random(1), limits).Error);
    }

    [Fact]
    public void BrokerCapacity_AcceptsOnlyWhatTheSurvivorsOfAnySingleFailureCanHost_AndNamesTheKeyWhenItRefuses()
    {
        Gen.Select(Gen.Int[1, 5], Gen.Int[1, 10], Gen.Int[1, 30]).Sample((brokers, existing, added) =>
        {
            var rf = (short)Math.Min(3, brokers);
            var image = WithTopic(Cluster(brokers), existing, rf);
            var limits = new AdminLimits(BrokerCapacity: BrokerCapacity.Unbounded with { Partitions = 20 });
            var decision = ControllerDecisions.CreatePartitions(image, "t", existing + added, new Random(3), limits);
            if (decision.Error == ErrorCode.None)
            {
                var model = CapacityModel.Build(image.Apply(decision.Records), limits.Capacity);
                for (var b = 0; b < brokers; b++)
                {
                    var worst = model.Worst()[b][(int)CapacityResource.Partitions].Value;
                    Assert.True(worst <= model.Bound(b, CapacityResource.Partitions, limits.HeadroomMargin), $"broker {model.Brokers[b]} reaches {worst}");
                }
            }
            else
            {
                Assert.Equal(ErrorCode.PolicyViolation, decision.Error);
                Assert.Contains("broker.capacity.partitions", decision.Message, StringComparison.Ordinal);
                Assert.True((existing + added) * rf > 16, $"refused though {(existing + added) * rf} replicas fit on any one broker");
            }
        });
    }

    private static MetadataImage Cluster(int brokers) => TestImages.Cluster(brokers);

    private static MetadataImage WithTopic(MetadataImage image, int partitions, short rf) =>
        image.Apply(ControllerDecisions.CreateTopic(image, "t", Guid.NewGuid(), partitions, rf, null, new Dictionary<string, string>(), new Random(5)).Records);
}
