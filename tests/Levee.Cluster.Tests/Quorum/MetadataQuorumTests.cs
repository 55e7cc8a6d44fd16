using System.Diagnostics;
using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;

namespace Levee.Cluster.Tests.Quorum;

// One class: its tests run one after another, so Raft timers do not compete for the two cores.
public sealed class MetadataQuorumTests
{
    private static readonly TimeSpan ElectionDeadline = TimeSpan.FromSeconds(10);

    // Replicating a few records to a follower takes milliseconds; a deadline, not a measure: CI runs this beside
    // other test projects on two cores, where it once took more than 10 s.
    private static readonly TimeSpan CatchUpDeadline = TimeSpan.FromSeconds(30);

    private static MetadataRecord[] CreateTopic(string name, int brokerId = 1)
    {
        var id = Guid.NewGuid();
        return [new TopicRecord(name, id), new PartitionRecord(id, 0, [brokerId], [brokerId], brokerId)];
    }

    private static RegisterBrokerRecord Broker(int id) =>
        new(id, Guid.NewGuid(), 1, [new BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9092 + id)], Fenced: false);

    [Fact]
    public async Task SingleVoter_ElectsItself_AndCommits()
    {
        await using var quorum = new TestQuorum(voters: 1);
        var node = await quorum.StartAsync(1);
        await quorum.WaitForLeaderAsync(ElectionDeadline);

        var offset = await node.AppendAsync([Broker(1), .. CreateTopic("orders")]);

        Assert.True(node.IsLeader);
        Assert.Equal(1, node.LeaderId);
        Assert.True(node.Current.Offset >= offset);
        Assert.Equal(1, node.Current.GetPartition("orders", 0)!.Leader);
        Assert.True(Directory.Exists(Path.Combine(quorum.DataDirectory(1), "__cluster_metadata-0", "wal")));
    }

    [Fact]
    public async Task ThreeVoters_ElectOneLeader_AndEveryNodeAppliesTheRecords()
    {
        await using var quorum = new TestQuorum(voters: 3);
        await quorum.StartAllAsync();
        var leader = await quorum.WaitForLeaderAsync(ElectionDeadline);

        var offset = await leader.AppendAsync([Broker(1), Broker(2), Broker(3), .. CreateTopic("orders")]);

        foreach (var node in quorum.Running)
        {
            using var cts = new CancellationTokenSource(ElectionDeadline);
            var image = await node.WaitForOffsetAsync(offset, cts.Token);
            Assert.Equal(3, image.Brokers.Count);
            Assert.NotNull(image.GetPartition("orders", 0));
            Assert.Equal(leader.Current.ToSnapshot(), image.WithOffset(leader.Current.Offset).ToSnapshot());
        }
    }

    [Fact]
    public async Task AppendOnAFollower_ThrowsNotControllerNamingTheLeader()
    {
        await using var quorum = new TestQuorum(voters: 3);
        await quorum.StartAllAsync();
        var leader = await quorum.WaitForLeaderAsync(ElectionDeadline);
        var follower = quorum.Running.First(n => n != leader);

        var e = await Assert.ThrowsAsync<NotControllerException>(async () => await follower.AppendAsync([Broker(1)]));

        Assert.Equal(leader.NodeId, e.LeaderId);
        Assert.Contains($"the leader is node {leader.NodeId}", e.Message);
    }

    [Fact]
    public async Task AppendOnTheLeader_ThatDoesNotApply_IsRefusedBeforeTheLog()
    {
        await using var quorum = new TestQuorum(voters: 1);
        var node = await quorum.StartAsync(1);
        await quorum.WaitForLeaderAsync(ElectionDeadline);
        var before = node.Current.Offset;

        await Assert.ThrowsAsync<InvalidMetadataRecordException>(async () => await node.AppendAsync([new RemoveTopicRecord(Guid.NewGuid())]));

        Assert.Equal(before, node.Current.Offset);
    }

    [Fact]
    public async Task LeaderStops_ANewLeaderIsElectedWithinSeconds_AndAppendsContinue()
    {
        await using var quorum = new TestQuorum(voters: 3);
        await quorum.StartAllAsync();
        var leader = await quorum.WaitForLeaderAsync(ElectionDeadline);
        await leader.AppendAsync([Broker(1), .. CreateTopic("before")]);

        var clock = Stopwatch.StartNew();
        await quorum.StopAsync(leader.NodeId);
        var successor = await quorum.WaitForLeaderAsync(ElectionDeadline);
        var offset = await successor.AppendAsync(CreateTopic("after"));
        clock.Stop();

        Assert.NotEqual(leader.NodeId, successor.NodeId);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"failover took {clock.Elapsed}");
        foreach (var node in quorum.Running)
        {
            var image = await node.WaitForOffsetAsync(offset, new CancellationTokenSource(ElectionDeadline).Token);
            Assert.NotNull(image.GetPartition("before", 0));
            Assert.NotNull(image.GetPartition("after", 0));
        }
    }

    [Fact]
    public async Task SingleVoterRestart_RecoversItsImageFromSnapshotAndLog()
    {
        await using var quorum = new TestQuorum(voters: 1, snapshotInterval: 4);
        var node = await quorum.StartAsync(1);
        await quorum.WaitForLeaderAsync(ElectionDeadline);
        await node.AppendAsync([Broker(1)]);
        for (var i = 0; i < 10; i++)
        {
            await node.AppendAsync(CreateTopic("t" + i));
        }

        var expected = node.Current;
        await quorum.StopAsync(1);
        var snapshots = Path.Combine(quorum.DataDirectory(1), "__cluster_metadata-0", "snapshots");
        Assert.NotEmpty(Directory.GetFiles(snapshots));

        var restarted = await quorum.StartAsync(1);
        await Eventually.That(() => restarted.Current.Offset >= expected.Offset, ElectionDeadline, "replay of the log after the snapshot");

        Assert.Equal(expected.WithOffset(0).ToSnapshot(), restarted.Current.WithOffset(0).ToSnapshot());
        await quorum.WaitForLeaderAsync(ElectionDeadline);
        await restarted.AppendAsync(CreateTopic("after-restart"));
        Assert.Equal(11, restarted.Current.TopicsByName.Count);
    }

    [Fact]
    public async Task FollowerRestart_RecoversFromItsDataDir_AndCatchesUp()
    {
        await using var quorum = new TestQuorum(voters: 3, snapshotInterval: 4);
        await quorum.StartAllAsync();
        var leader = await quorum.WaitForLeaderAsync(ElectionDeadline);
        await leader.AppendAsync([Broker(1)]);
        for (var i = 0; i < 8; i++)
        {
            await leader.AppendAsync(CreateTopic("t" + i));
        }

        var follower = quorum.Running.First(n => n != leader).NodeId;
        await quorum[follower].WaitForOffsetAsync(leader.Current.Offset, new CancellationTokenSource(CatchUpDeadline).Token);
        await quorum.StopAsync(follower);

        var lastBeforeRestart = 0L;
        for (var i = 8; i < 12; i++)
        {
            lastBeforeRestart = await leader.AppendAsync(CreateTopic("t" + i));
        }

        var restarted = await quorum.StartAsync(follower);
        Assert.True(restarted.Current.TopicsByName.Count >= 8, "the image comes back from the node's own snapshot and log before it hears the leader");
        var image = await restarted.WaitForOffsetAsync(lastBeforeRestart, new CancellationTokenSource(CatchUpDeadline).Token);

        Assert.Equal(12, image.TopicsByName.Count);
        Assert.Equal(
            leader.Current.WithOffset(0).ToSnapshot(),
            (await restarted.WaitForOffsetAsync(leader.Current.Offset, new CancellationTokenSource(CatchUpDeadline).Token)).WithOffset(0).ToSnapshot());
    }

    [Fact]
    public async Task LeaderThatLosesItsMajority_NeverNamesItselfLeaderOnceItCannotAppend()
    {
        await using var quorum = new TestQuorum(voters: 3);
        await quorum.StartAllAsync();
        var leader = await quorum.WaitForLeaderAsync(ElectionDeadline);
        foreach (var other in quorum.Running.Where(n => n != leader).Select(n => n.NodeId).ToList())
        {
            await quorum.StopAsync(other);
        }

        // DotNext steps the leader down at its next heartbeat round without a majority, but keeps naming it as
        // leader until its election timer fires. A broker that read "the leader is me" while it could not append
        // forwarded controller requests to itself. Watch the whole window, sampling much faster than it lasts.
        var namedItself = false;
        await Eventually.That(
            () =>
            {
                var leads = leader.IsLeader;
                var named = leader.LeaderId;
                namedItself |= !leads && named == leader.NodeId;
                return !leads && named is null;
            },
            ElectionDeadline,
            "the former leader to step down and forget itself as leader");

        Assert.False(namedItself, "LeaderId named this node while IsLeader was false");
    }

    [Fact]
    public async Task LeaderThatLeavesRightAfterACommit_LetsTheLastVoterApplyIt()
    {
        await using var quorum = new TestQuorum(voters: 3);
        await quorum.StartAllAsync();
        var leader = await quorum.WaitForLeaderAsync(ElectionDeadline);
        var survivor = quorum.Running.First(n => n != leader);
        await quorum.StopAsync(quorum.Running.First(n => n != leader && n != survivor).NodeId);

        // Committed by the leader and the survivor; the survivor learns that it is committed only from the
        // leader's next round, and the leader stops at once (a broker's last decision is its own controlled
        // shutdown). With no majority left, nothing else would ever tell the survivor.
        var offset = await leader.AppendAsync([Broker(1), .. CreateTopic("last-words")]);
        await quorum.StopAsync(leader.NodeId);

        await Eventually.That(() => survivor.Current.Offset >= offset, ElectionDeadline, "the survivor to apply the leader's last commit");
        Assert.NotNull(survivor.Current.GetPartition("last-words", 0));
    }

    [Fact]
    public async Task Minority_RefusesAppendsWithAClearError_AndKeepsServingReads()
    {
        await using var quorum = new TestQuorum(voters: 3);
        await quorum.StartAllAsync();
        var leader = await quorum.WaitForLeaderAsync(ElectionDeadline);
        var offset = await leader.AppendAsync([Broker(1), .. CreateTopic("orders")]);
        var survivor = quorum.Running.First(n => n != leader);
        await survivor.WaitForOffsetAsync(offset, new CancellationTokenSource(ElectionDeadline).Token);

        foreach (var other in quorum.Running.Where(n => n != survivor).Select(n => n.NodeId).ToList())
        {
            await quorum.StopAsync(other);
        }

        // The survivor forgets the dead leader once its election timeout passes; it can never win alone.
        await Eventually.That(() => survivor.LeaderId is null, ElectionDeadline, "the survivor to lose its leader");
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<QuorumUnavailableException>(async () => await survivor.AppendAsync(CreateTopic("refused")));
        clock.Stop();

        Assert.Contains("Metadata change refused", e.Message);
        Assert.Contains("majority 2", e.Message);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(8));
        Assert.NotNull(survivor.Current.GetPartition("orders", 0));
        Assert.Null(survivor.Current.GetPartition("refused", 0));
    }
}
