using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Groups.GroupTestSupport;

namespace Levee.Broker.Tests.Groups;

/// <summary>Exact group-protocol answers, driven with raw requests.</summary>
public sealed class GroupProtocolTests : IAsyncLifetime
{
    private TestBroker _broker = null!;
    private RawKafkaClient _raw = null!;

    public async Task InitializeAsync()
    {
        _broker = await TestBroker.StartAsync(o => Quick(o) with { GroupInitialRebalanceDelayMs = 0 });
        await CreateTopicAsync(_broker.BootstrapServers, "t", 2);
        _raw = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
    }

    public async Task DisposeAsync()
    {
        _raw.Dispose();
        await _broker.DisposeAsync();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3_600_000)]
    public async Task JoinGroup_WithSessionTimeoutOutsideBrokerBounds_ReturnsInvalidSessionTimeout(int sessionTimeoutMs)
    {
        var response = await _raw.CallAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "bounds",
            SessionTimeoutMs = sessionTimeoutMs,
            RebalanceTimeoutMs = 10_000,
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = Subscription("t") }],
        });
        Assert.Equal(ErrorCode.InvalidSessionTimeout, (ErrorCode)response.ErrorCode);
        Assert.Equal(-1, response.GenerationId);
        Assert.Equal("Dead", (await _raw.DescribeAsync("bounds")).GroupState);
    }

    [Fact]
    public async Task FindCoordinator_ForGroupsAndBatches_NamesThisBrokerAndCreatesTheInternalTopic()
    {
        var v3 = await _raw.CallAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 3, new FindCoordinatorRequest { Key = "g", KeyType = 0 });
        Assert.Equal(0, v3.ErrorCode);
        Assert.Equal(_broker.Broker.Identity.NodeId, v3.NodeId);
        Assert.Equal(_broker.Broker.Identity.Port, v3.Port);

        var v4 = await _raw.CallAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 4, new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = ["a", "b"] });
        Assert.Equal(["a", "b"], v4.Coordinators.Select(c => c.Key));
        Assert.All(v4.Coordinators, c => Assert.Equal(_broker.Broker.Identity.Port, c.Port));

        var metadata = await _raw.CallAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest { Topics = null });
        var internalTopic = Assert.Single(metadata.Topics, t => t.Name == "__consumer_offsets");
        Assert.True(internalTopic.IsInternal);
        Assert.Equal(3, internalTopic.Partitions.Count);
    }

    [Fact]
    public void GroupPartition_IsAbsOfJavaStringHashModuloPartitionCount()
    {
        // Java: "test-group".hashCode() == 627841412, "my-group".hashCode() == -1906497762, and
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0.
        Assert.Equal(12, Levee.Broker.Groups.GroupCoordinator.PartitionFor("test-group", 50));
        Assert.Equal(12, Levee.Broker.Groups.GroupCoordinator.PartitionFor("my-group", 50));
        Assert.Equal(0, Levee.Broker.Groups.GroupCoordinator.PartitionFor("polygenelubricants", 50));
        Assert.Equal(0, Levee.Broker.Groups.GroupCoordinator.PartitionFor("", 50));
    }

    [Fact]
    public async Task BadRequestsAgainstAStableGroup_GetKafkasErrors_AndLeaveTheGroupIntact()
    {
        var joined = await _raw.JoinAsync("g1", "t");
        Assert.Equal(0, joined.ErrorCode);
        Assert.Equal(1, joined.GenerationId);
        Assert.Equal(joined.MemberId, joined.Leader);
        Assert.Single(joined.Members);
        Assert.Equal("range", joined.ProtocolName);

        var assignment = new byte[] { 0, 0, 0, 0, 0, 0, 0, 0 };
        var stale = await _raw.SyncAsync("g1", joined.GenerationId - 1, joined.MemberId, (joined.MemberId, assignment));
        Assert.Equal(ErrorCode.IllegalGeneration, (ErrorCode)stale.ErrorCode);
        var future = await _raw.SyncAsync("g1", joined.GenerationId + 1, joined.MemberId, (joined.MemberId, assignment));
        Assert.Equal(ErrorCode.IllegalGeneration, (ErrorCode)future.ErrorCode);
        var stranger = await _raw.SyncAsync("g1", joined.GenerationId, "nobody", ("nobody", assignment));
        Assert.Equal(ErrorCode.UnknownMemberId, (ErrorCode)stranger.ErrorCode);

        var synced = await _raw.SyncAsync("g1", joined.GenerationId, joined.MemberId, (joined.MemberId, assignment));
        Assert.Equal(0, synced.ErrorCode);
        Assert.Equal(assignment, synced.Assignment);
        Assert.Equal("consumer", synced.ProtocolType);

        Assert.Equal(ErrorCode.UnknownMemberId, await _raw.CommitAsync("g1", joined.GenerationId, "nobody", "t", 0, 5));
        Assert.Equal(ErrorCode.IllegalGeneration, await _raw.CommitAsync("g1", joined.GenerationId + 7, joined.MemberId, "t", 0, 5));
        Assert.Equal(ErrorCode.UnknownMemberId, await _raw.CommitAsync("g1", -1, "", "t", 0, 5));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, await _raw.CommitAsync("g1", joined.GenerationId, joined.MemberId, "no-such-topic", 0, 5));
        Assert.Equal(ErrorCode.IllegalGeneration, await _raw.HeartbeatAsync("g1", 99, joined.MemberId));
        Assert.Equal(ErrorCode.UnknownMemberId, await _raw.HeartbeatAsync("g1", joined.GenerationId, "nobody"));
        Assert.Equal(-1, await _raw.FetchCommittedAsync("g1", "t", 0));

        // Nothing above changed the group: same generation, same member, still stable, and it still works.
        var described = await _raw.DescribeAsync("g1");
        Assert.Equal("Stable", described.GroupState);
        Assert.Equal(joined.MemberId, Assert.Single(described.Members).MemberId);
        Assert.Equal(assignment, described.Members[0].MemberAssignment);
        Assert.Equal(ErrorCode.None, await _raw.HeartbeatAsync("g1", joined.GenerationId, joined.MemberId));
        Assert.Equal(ErrorCode.None, await _raw.CommitAsync("g1", joined.GenerationId, joined.MemberId, "t", 0, 5));
        Assert.Equal(5, await _raw.FetchCommittedAsync("g1", "t", 0));

        // A group in use cannot be deleted, nor can the offsets of a topic it consumes.
        var delete = await _raw.CallAsync<DeleteGroupsResponse>(ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = ["g1", "never-existed"] });
        Assert.Equal([ErrorCode.NonEmptyGroup, ErrorCode.GroupIdNotFound], delete.Results.Select(r => (ErrorCode)r.ErrorCode));
        var offsetDelete = await _raw.CallAsync<OffsetDeleteResponse>(ApiKey.OffsetDelete, 0, new OffsetDeleteRequest
        {
            GroupId = "g1",
            Topics = [new OffsetDeleteRequest.OffsetDeleteRequestTopic { Name = "t", Partitions = [new OffsetDeleteRequest.OffsetDeleteRequestPartition { PartitionIndex = 0 }] }],
        });
        Assert.Equal(0, offsetDelete.ErrorCode);
        Assert.Equal(ErrorCode.GroupSubscribedToTopic, (ErrorCode)offsetDelete.Topics.Single().Partitions.Single().ErrorCode);

        // Once the member leaves, the group is empty and can be deleted with its offsets.
        var leave = await _raw.CallAsync<LeaveGroupResponse>(ApiKey.LeaveGroup, 5, new LeaveGroupRequest
        {
            GroupId = "g1",
            Members = [new LeaveGroupRequest.MemberIdentity { MemberId = joined.MemberId }, new LeaveGroupRequest.MemberIdentity { MemberId = "nobody" }],
        });
        Assert.Equal([ErrorCode.None, ErrorCode.UnknownMemberId], leave.Members.Select(m => (ErrorCode)m.ErrorCode));
        Assert.Equal("Empty", (await _raw.DescribeAsync("g1")).GroupState);
        delete = await _raw.CallAsync<DeleteGroupsResponse>(ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = ["g1"] });
        Assert.Equal(0, delete.Results.Single().ErrorCode);
        Assert.Equal(-1, await _raw.FetchCommittedAsync("g1", "t", 0));
        Assert.Equal("Dead", (await _raw.DescribeAsync("g1")).GroupState);
    }

    [Fact]
    public async Task JoinGroup_WithProtocolsNoMemberShares_ReturnsInconsistentGroupProtocol()
    {
        var joined = await _raw.JoinAsync("g2", "t");
        Assert.Equal(0, joined.ErrorCode);
        using var other = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var response = await other.CallAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "g2",
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "roundrobin", Metadata = Subscription("t") }],
        });
        Assert.Equal(ErrorCode.InconsistentGroupProtocol, (ErrorCode)response.ErrorCode);
    }

    [Fact]
    public async Task StaticMember_RejoiningWithNewMemberId_FencesTheOldIncarnationWithoutRebalancing()
    {
        async Task<JoinGroupResponse> JoinStatic(RawKafkaClient client) => await client.CallAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "static",
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            GroupInstanceId = "instance-1",
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = Subscription("t") }],
        });

        var first = await JoinStatic(_raw);
        Assert.Equal(0, first.ErrorCode);
        var sync = await _raw.SyncAsync("static", first.GenerationId, first.MemberId, (first.MemberId, [1, 2, 3]));
        Assert.Equal(0, sync.ErrorCode);

        using var restarted = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var second = await JoinStatic(restarted);
        Assert.Equal(0, second.ErrorCode);
        Assert.NotEqual(first.MemberId, second.MemberId);
        Assert.Equal(first.GenerationId, second.GenerationId);

        // Before v9 the returning leader is told its old id leads, so it does not reassign.
        Assert.Equal(first.MemberId, second.Leader);
        var resync = await restarted.SyncAsync("static", second.GenerationId, second.MemberId);
        Assert.Equal(new byte[] { 1, 2, 3 }, resync.Assignment);

        var fenced = await _raw.CallAsync<HeartbeatResponse>(ApiKey.Heartbeat, 4, new HeartbeatRequest { GroupId = "static", GenerationId = first.GenerationId, MemberId = first.MemberId, GroupInstanceId = "instance-1" });
        Assert.Equal(ErrorCode.FencedInstanceId, (ErrorCode)fenced.ErrorCode);
        Assert.Equal("Stable", (await _raw.DescribeAsync("static")).GroupState);
    }

    [Fact]
    public async Task SimpleCommit_WithGenerationMinusOne_IsStoredForAGroupWithoutMembers()
    {
        Assert.Equal(ErrorCode.None, await _raw.CommitAsync("standalone", -1, "", "t", 1, 42));
        Assert.Equal(42, await _raw.FetchCommittedAsync("standalone", "t", 1));
        Assert.Equal(ErrorCode.IllegalGeneration, await _raw.CommitAsync("unknown-group", 3, "m", "t", 1, 42));

        var listed = await _raw.CallAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest { StatesFilter = ["empty"] });
        var standalone = Assert.Single(listed.Groups, g => g.GroupId == "standalone");
        Assert.Equal("", standalone.ProtocolType);
        Assert.Equal("classic", standalone.GroupType);
        listed = await _raw.CallAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest { TypesFilter = ["consumer"] });
        Assert.Empty(listed.Groups);
    }
}

public sealed class OffsetRetentionTests
{
    [Fact]
    public async Task OffsetsOfAnEmptyGroup_ExpireAfterRetention_AndTheGroupIsRemoved()
    {
        await using var broker = await TestBroker.StartAsync(o => Quick(o) with { OffsetsRetentionMinutes = 0, OffsetsRetentionCheckIntervalMs = 100 });
        await CreateTopicAsync(broker.BootstrapServers, "t", 1);
        using var raw = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        Assert.Equal(ErrorCode.None, await raw.CommitAsync("short-lived", -1, "", "t", 0, 7));
        var expired = false;
        async Task Poll()
        {
            while (!expired)
            {
                expired = await raw.FetchCommittedAsync("short-lived", "t", 0) == -1;
                await Task.Delay(50);
            }
        }

        await Poll().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("Dead", (await raw.DescribeAsync("short-lived")).GroupState);
    }
}
