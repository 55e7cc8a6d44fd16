using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using ErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Cluster;

/// <summary>DescribeQuorum: the metadata quorum as its leader sees it, from any broker (a follower forwards the request).</summary>
public sealed class DescribeQuorumTests
{
    [Fact]
    public async Task DescribeQuorum_OnAFollower_NamesTheLeaderItsEpochAndTheVoters()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var follower = cluster.Brokers.First(b => b is { IsController: false })!;
        var leader = cluster.Brokers.Single(b => b is { IsController: true })!;
        using var client = await RawKafkaClient.ConnectAsync(follower.BootstrapServers);

        var response = await client.CallAsync<DescribeQuorumResponse>(ApiKey.DescribeQuorum, 2, new DescribeQuorumRequest
        {
            Topics =
            [
                new DescribeQuorumRequest.TopicData { TopicName = "__cluster_metadata", Partitions = [new DescribeQuorumRequest.PartitionData { PartitionIndex = 0 }] },
                new DescribeQuorumRequest.TopicData { TopicName = "orders", Partitions = [new DescribeQuorumRequest.PartitionData { PartitionIndex = 0 }] },
            ],
        });

        Assert.Equal(0, response.ErrorCode);
        var metadata = Assert.Single(response.Topics[0].Partitions);
        Assert.Equal(0, metadata.ErrorCode);
        Assert.Equal(leader.Options.NodeId, metadata.LeaderId);
        Assert.True(metadata.LeaderEpoch >= 1, $"epoch {metadata.LeaderEpoch}");
        Assert.True(metadata.HighWatermark >= 1, $"high watermark {metadata.HighWatermark}");
        Assert.Equal([1, 2, 3], metadata.CurrentVoters.Select(v => v.ReplicaId).Order());
        Assert.True(metadata.CurrentVoters.Single(v => v.ReplicaId == metadata.LeaderId).LogEndOffset >= metadata.HighWatermark);
        Assert.Empty(metadata.Observers);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, Assert.Single(response.Topics[1].Partitions).ErrorCode);
        Assert.Equal([1, 2, 3], response.Nodes.Select(n => n.NodeId).Order());
        Assert.All(response.Nodes, n => Assert.True(Assert.Single(n.Listeners).Port > 0));
    }
}
