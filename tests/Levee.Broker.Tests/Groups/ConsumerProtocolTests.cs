using Confluent.Kafka;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Groups.GroupTestSupport;
using ErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Groups;

/// <summary>
/// The consumer group protocol (KIP-848): Confluent.Kafka consumers with <c>group.protocol=consumer</c>, and the
/// exact answers of ConsumerGroupHeartbeat, ConsumerGroupDescribe and the offset APIs to raw requests.
/// </summary>
public sealed class ConsumerProtocolTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static BrokerOptions Fast(BrokerOptions options) => Quick(options) with
    {
        GroupConsumerHeartbeatIntervalMs = 300,
        GroupConsumerSessionTimeoutMs = 6000,
    };

    private static ConsumerConfig Config(string bootstrap, string group) => new()
    {
        BootstrapServers = bootstrap,
        GroupId = group,
        GroupProtocol = GroupProtocol.Consumer,
        EnableAutoCommit = false,
        AutoOffsetReset = AutoOffsetReset.Earliest,
    };

    [Fact]
    public async Task ThreeConfluentConsumers_RebalanceAsMembersJoinAndLeave_EachPartitionOwnedOnceAndEveryRecordRead()
    {
        await using var broker = await TestBroker.StartAsync(Fast);
        await CreateTopicAsync(broker.BootstrapServers, "kip848", 6);
        await ProduceAsync(broker.BootstrapServers, "kip848", 6, 20);
        var ledger = new OwnershipLedger();
        var consumers = new List<TrackedConsumer>();
        try
        {
            consumers.Add(new TrackedConsumer("c0", Config(broker.BootstrapServers, "g848"), "kip848", ledger));
            await WaitUntilAsync(() => consumers[0].Owned.Count == 6, Patience, ledger.Describe);

            consumers.Add(new TrackedConsumer("c1", Config(broker.BootstrapServers, "g848"), "kip848", ledger));
            consumers.Add(new TrackedConsumer("c2", Config(broker.BootstrapServers, "g848"), "kip848", ledger));
            await WaitUntilAsync(() => consumers.All(c => c.Owned.Count == 2) && ledger.Snapshot().Count == 6, Patience, ledger.Describe);

            using (var raw = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
            {
                var described = await DescribeConsumerGroupAsync(raw, "g848");
                Assert.Equal(0, described.ErrorCode);
                Assert.Equal("Stable", described.GroupState);
                Assert.Equal("uniform", described.AssignorName);
                Assert.Equal(3, described.Members.Count);
                Assert.All(described.Members, m => Assert.Equal(described.AssignmentEpoch, m.MemberEpoch));
                Assert.All(described.Members, m => Assert.Equal(2, m.Assignment.TopicPartitions.Single().Partitions.Count));
                Assert.All(described.Members, m => Assert.Equal("kip848", m.Assignment.TopicPartitions.Single().TopicName));

                var listed = await raw.CallAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest { TypesFilter = ["consumer"] });
                var group = Assert.Single(listed.Groups);
                Assert.Equal(("g848", "consumer", "Stable"), (group.GroupId, group.GroupType, group.GroupState));
                Assert.Empty((await raw.CallAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest { TypesFilter = ["classic"] })).Groups);
            }

            // Confluent.Kafka's AdminClient describes it with ConsumerGroupDescribe.
            using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
            {
                var description = (await admin.DescribeConsumerGroupsAsync(["g848"])).ConsumerGroupDescriptions.Single();
                Assert.Null(description.Error is { IsError: true } ? description.Error : null);
                Assert.Equal(ConsumerGroupState.Stable, description.State);
                Assert.Equal(3, description.Members.Count);
                Assert.Equal(6, description.Members.Sum(m => m.Assignment.TopicPartitions.Count));
                var listing = (await admin.ListConsumerGroupsAsync()).Valid.Single(g => g.GroupId == "g848");
                Assert.Equal(ConsumerGroupType.Consumer, listing.Type);
            }

            // One member leaves: the two others take its partitions, three each.
            var leaving = consumers[1];
            leaving.Stop();
            await WaitUntilAsync(
                () => ledger.Snapshot().Count == 6 && !ledger.Snapshot().ContainsValue(leaving.Name) && consumers[0].Owned.Count == 3 && consumers[2].Owned.Count == 3,
                Patience,
                ledger.Describe);

            // Every record was read, and committed with the member epoch (OffsetCommit v9).
            await WaitUntilAsync(
                () => consumers.SelectMany(c => c.Consumed).Select(e => (e.Partition, e.Offset)).Distinct().Count() == 120,
                Patience,
                () => $"{consumers.SelectMany(c => c.Consumed).Select(e => (e.Partition, e.Offset)).Distinct().Count()} of 120 records read");
            Assert.Empty(ledger.Violations);
            Assert.All(consumers, c => Assert.Empty(c.Errors));
            using var check = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
            await WaitUntilAsync(
                () => Enumerable.Range(0, 6).All(p => check.FetchCommittedAsync("g848", "kip848", p).GetAwaiter().GetResult() == 20),
                Patience,
                () => "not every partition committed at 20");
        }
        finally
        {
            consumers.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task SecondMember_GetsPartitionsOnlyAfterTheFirstRevokesThem()
    {
        await using var broker = await TestBroker.StartAsync(Fast);
        await CreateTopicAsync(broker.BootstrapServers, "recon", 4);
        var topicId = broker.Broker.Replicas.Image.TopicsByName["recon"].Id;
        using var a = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        using var b = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);

        var joinedA = await HeartbeatAsync(a, Join("recon-g", "member-a", "recon"));
        Assert.Equal(0, joinedA.ErrorCode);
        Assert.Equal("member-a", joinedA.MemberId);
        Assert.Equal(1, joinedA.MemberEpoch);
        Assert.Equal(300, joinedA.HeartbeatIntervalMs);
        Assert.Equal([0, 1, 2, 3], Partitions(joinedA));

        // B joins at epoch 2: its target is half the partitions, all still held by A, so it gets none yet.
        var joinedB = await HeartbeatAsync(b, Join("recon-g", "member-b", "recon"));
        Assert.Equal(2, joinedB.MemberEpoch);
        Assert.Empty(Partitions(joinedB));

        // A is asked to revoke two and keeps epoch 1 until it says it no longer owns them.
        var revoke = await HeartbeatAsync(a, new ConsumerGroupHeartbeatRequest { GroupId = "recon-g", MemberId = "member-a", MemberEpoch = 1 });
        Assert.Equal(1, revoke.MemberEpoch);
        var kept = Partitions(revoke);
        Assert.Equal(2, kept.Count);

        // While A has not acknowledged, B still gets nothing.
        Assert.Null((await HeartbeatAsync(b, new ConsumerGroupHeartbeatRequest { GroupId = "recon-g", MemberId = "member-b", MemberEpoch = 2 })).Assignment);

        var acked = await HeartbeatAsync(a, new ConsumerGroupHeartbeatRequest
        {
            GroupId = "recon-g",
            MemberId = "member-a",
            MemberEpoch = 1,
            TopicPartitions = [new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = topicId, Partitions = [.. kept] }],
        });
        Assert.Equal(2, acked.MemberEpoch);

        var released = await HeartbeatAsync(b, new ConsumerGroupHeartbeatRequest { GroupId = "recon-g", MemberId = "member-b", MemberEpoch = 2 });
        Assert.Equal(2, released.MemberEpoch);
        Assert.Equal([0, 1, 2, 3], Partitions(released).Concat(kept).Order());

        // Commits and fetches carry the member epoch (v9): a stale one is refused, an older version too.
        Assert.Equal(ErrorCode.StaleMemberEpoch, await a.CommitAsync("recon-g", 1, "member-a", "recon", kept[0], 5, version: 9));
        Assert.Equal(ErrorCode.UnsupportedVersion, await a.CommitAsync("recon-g", 2, "member-a", "recon", kept[0], 5, version: 8));
        Assert.Equal(ErrorCode.UnknownMemberId, await a.CommitAsync("recon-g", -1, "", "recon", kept[0], 5, version: 9));
        Assert.Equal(ErrorCode.None, await a.CommitAsync("recon-g", 2, "member-a", "recon", kept[0], 5, version: 9));
        var fetched = await a.CallAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 9, new OffsetFetchRequest
        {
            Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = "recon-g", MemberId = "member-a", MemberEpoch = 1, Topics = null }],
        });
        Assert.Equal((short)ErrorCode.StaleMemberEpoch, fetched.Groups.Single().ErrorCode);
        Assert.Equal(5, await a.FetchCommittedAsync("recon-g", "recon", kept[0]));

        // A classic member cannot join while the group has consumer members; the classic API reports it Dead.
        var classic = await a.CallAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "recon-g",
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = Subscription("recon") }],
        });
        Assert.Equal(ErrorCode.InconsistentGroupProtocol, (ErrorCode)classic.ErrorCode);
        Assert.Equal("Dead", (await a.DescribeAsync("recon-g")).GroupState);

        // B leaves: A gets every partition at the next epoch.
        var left = await HeartbeatAsync(b, new ConsumerGroupHeartbeatRequest { GroupId = "recon-g", MemberId = "member-b", MemberEpoch = -1 });
        Assert.Equal((0, -1), (left.ErrorCode, left.MemberEpoch));
        var all = await HeartbeatAsync(a, new ConsumerGroupHeartbeatRequest { GroupId = "recon-g", MemberId = "member-a", MemberEpoch = 2 });
        Assert.Equal(3, all.MemberEpoch);
        Assert.Equal([0, 1, 2, 3], Partitions(all));
    }

    [Fact]
    public async Task BrokerRestart_MembersGoOnAtTheirEpochs_WithTheirAssignments()
    {
        await using var broker = await TestBroker.StartAsync(o => Fast(o) with { GroupConsumerSessionTimeoutMs = 30_000 });
        await CreateTopicAsync(broker.BootstrapServers, "kept", 4);
        using (var a = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            Assert.Equal(1, (await HeartbeatAsync(a, Join("kept-g", "member-a", "kept"))).MemberEpoch);
            Assert.Equal(2, (await HeartbeatAsync(a, Join("kept-g", "member-b", "kept"))).MemberEpoch);
            var revoking = await HeartbeatAsync(a, new ConsumerGroupHeartbeatRequest { GroupId = "kept-g", MemberId = "member-a", MemberEpoch = 1 });
            Assert.Equal(2, Partitions(revoking).Count);
            Assert.Equal(ErrorCode.None, await a.CommitAsync("kept-g", 1, "member-a", "kept", Partitions(revoking)[0], 9, version: 9));
        }

        var before = await DescribeAfterAsync(broker, "kept-g");
        await broker.RestartAsync();
        var after = await DescribeAfterAsync(broker, "kept-g");

        // The group, its epochs, every member's epoch, state and assignments and the target came back from the log.
        Assert.Equal((before.GroupEpoch, before.AssignmentEpoch, before.GroupState), (after.GroupEpoch, after.AssignmentEpoch, after.GroupState));
        Assert.Equal(Summary(before), Summary(after));

        // member-a, still revoking at epoch 1, acknowledges to the new coordinator and moves on; member-b then gets the rest.
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var kept = before.Members.Single(m => m.MemberId == "member-a").Assignment.TopicPartitions.Single();
        var acked = await HeartbeatAsync(client, new ConsumerGroupHeartbeatRequest
        {
            GroupId = "kept-g",
            MemberId = "member-a",
            MemberEpoch = 1,
            TopicPartitions = [new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = kept.TopicId, Partitions = kept.Partitions }],
        });
        Assert.Equal((0, 2), (acked.ErrorCode, acked.MemberEpoch));
        var b = await HeartbeatAsync(client, new ConsumerGroupHeartbeatRequest { GroupId = "kept-g", MemberId = "member-b", MemberEpoch = 2 });
        Assert.Equal([0, 1, 2, 3], Partitions(b).Concat(kept.Partitions).Order());
        Assert.Equal(9, await client.FetchCommittedAsync("kept-g", "kept", kept.Partitions[0]));

        // Members that leave are gone after another restart; the empty group keeps its epoch.
        Assert.Equal(0, (await HeartbeatAsync(client, new ConsumerGroupHeartbeatRequest { GroupId = "kept-g", MemberId = "member-a", MemberEpoch = -1 })).ErrorCode);
        Assert.Equal(0, (await HeartbeatAsync(client, new ConsumerGroupHeartbeatRequest { GroupId = "kept-g", MemberId = "member-b", MemberEpoch = -1 })).ErrorCode);
        var left = await DescribeAfterAsync(broker, "kept-g");
        await broker.RestartAsync();
        var empty = await DescribeAfterAsync(broker, "kept-g");
        Assert.Equal(("Empty", left.GroupEpoch), (empty.GroupState, empty.GroupEpoch));
        Assert.Empty(empty.Members);

        static string Summary(ConsumerGroupDescribeResponse.DescribedGroup g) => string.Join(";", g.Members.Select(m =>
            $"{m.MemberId}@{m.MemberEpoch}:{string.Join(",", m.Assignment.TopicPartitions.SelectMany(t => t.Partitions).Order())}/{string.Join(",", m.TargetAssignment.TopicPartitions.SelectMany(t => t.Partitions).Order())}"));
    }

    private static async Task<ConsumerGroupDescribeResponse.DescribedGroup> DescribeAfterAsync(TestBroker broker, string group)
    {
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var described = await DescribeConsumerGroupAsync(client, group);
            if (described.ErrorCode == 0 || DateTime.UtcNow > deadline)
            {
                Assert.Equal(0, described.ErrorCode);
                return described;
            }

            // The coordinator loads __consumer_offsets after a restart: COORDINATOR_LOAD_IN_PROGRESS meanwhile.
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Heartbeat_AnswersKafkasErrors()
    {
        await using var broker = await TestBroker.StartAsync(o => Fast(o) with { GroupConsumerSessionTimeoutMs = 1000 });
        await CreateTopicAsync(broker.BootstrapServers, "errs", 2);
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);

        var noTimeout = Join("errs-g", "m1", "errs");
        noTimeout.RebalanceTimeoutMs = -1;
        var invalid = await HeartbeatAsync(client, noTimeout);
        Assert.Equal((ErrorCode.InvalidRequest, "RebalanceTimeoutMs must be provided in first request."), ((ErrorCode)invalid.ErrorCode, invalid.ErrorMessage));

        var ownedOnJoin = Join("errs-g", "m1", "errs");
        ownedOnJoin.TopicPartitions = [new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = Guid.NewGuid(), Partitions = [0] }];
        Assert.Equal(ErrorCode.InvalidRequest, (ErrorCode)(await HeartbeatAsync(client, ownedOnJoin)).ErrorCode);

        var unknownAssignor = Join("errs-g", "m1", "errs");
        unknownAssignor.ServerAssignor = "sticky";
        var unsupported = await HeartbeatAsync(client, unknownAssignor);
        Assert.Equal(ErrorCode.UnsupportedAssignor, (ErrorCode)unsupported.ErrorCode);
        Assert.Contains("uniform, range", unsupported.ErrorMessage, StringComparison.Ordinal);

        var badRegex = Join("errs-g", "m1", "errs");
        badRegex.SubscribedTopicNames = null;
        badRegex.SubscribedTopicRegex = "([unclosed";
        Assert.Equal(ErrorCode.InvalidRegularExpression, (ErrorCode)(await HeartbeatAsync(client, badRegex)).ErrorCode);

        Assert.Equal(ErrorCode.UnknownMemberId, (ErrorCode)(await HeartbeatAsync(client, new ConsumerGroupHeartbeatRequest { GroupId = "errs-g", MemberId = "ghost", MemberEpoch = 1 })).ErrorCode);

        var joined = await HeartbeatAsync(client, Join("errs-g", "m1", "errs"));
        Assert.Equal(1, joined.MemberEpoch);
        var ahead = await HeartbeatAsync(client, new ConsumerGroupHeartbeatRequest { GroupId = "errs-g", MemberId = "m1", MemberEpoch = 5 });
        Assert.Equal(ErrorCode.FencedMemberEpoch, (ErrorCode)ahead.ErrorCode);

        // A member that stops heartbeating is removed after group.consumer.session.timeout.ms.
        await WaitUntilAsync(
            () => DescribeConsumerGroupAsync(client, "errs-g").GetAwaiter().GetResult().Members.Count == 0,
            Patience,
            () => "the silent member is still in the group");
        Assert.Equal(ErrorCode.UnknownMemberId, (ErrorCode)(await HeartbeatAsync(client, new ConsumerGroupHeartbeatRequest { GroupId = "errs-g", MemberId = "m1", MemberEpoch = 1 })).ErrorCode);
        var empty = await DescribeConsumerGroupAsync(client, "errs-g");
        Assert.Equal("Empty", empty.GroupState);
        Assert.Equal(ErrorCode.GroupIdNotFound, (ErrorCode)(await DescribeConsumerGroupAsync(client, "no-such-group")).ErrorCode);
    }

    [Fact]
    public async Task RegexSubscription_AssignsMatchingTopicsAndPicksUpNewOnes()
    {
        await using var broker = await TestBroker.StartAsync(Fast);
        await CreateTopicAsync(broker.BootstrapServers, "metrics-a", 1);
        await CreateTopicAsync(broker.BootstrapServers, "logs", 1);
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var join = Join("regex-g", "m1", "unused");
        join.SubscribedTopicNames = null;
        join.SubscribedTopicRegex = "metrics-.*";
        var joined = await HeartbeatAsync(client, join);
        Assert.Equal(broker.Broker.Replicas.Image.TopicsByName["metrics-a"].Id, Assert.Single(joined.Assignment!.TopicPartitions).TopicId);

        await CreateTopicAsync(broker.BootstrapServers, "metrics-b", 1);
        var next = await HeartbeatAsync(client, new ConsumerGroupHeartbeatRequest { GroupId = "regex-g", MemberId = "m1", MemberEpoch = joined.MemberEpoch });
        Assert.Equal(joined.MemberEpoch + 1, next.MemberEpoch);
        Assert.Equal(2, next.Assignment!.TopicPartitions.Count);
    }

    private static ConsumerGroupHeartbeatRequest Join(string group, string memberId, string topic) => new()
    {
        GroupId = group,
        MemberId = memberId,
        MemberEpoch = 0,
        RebalanceTimeoutMs = 10_000,
        SubscribedTopicNames = [topic],
        TopicPartitions = [],
    };

    private static Task<ConsumerGroupHeartbeatResponse> HeartbeatAsync(RawKafkaClient client, ConsumerGroupHeartbeatRequest request) =>
        client.CallAsync<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, request);

    private static List<int> Partitions(ConsumerGroupHeartbeatResponse response) =>
        [.. (response.Assignment?.TopicPartitions ?? []).SelectMany(t => t.Partitions).Order()];

    private static async Task<ConsumerGroupDescribeResponse.DescribedGroup> DescribeConsumerGroupAsync(RawKafkaClient client, string group) =>
        (await client.CallAsync<ConsumerGroupDescribeResponse>(ApiKey.ConsumerGroupDescribe, 0, new ConsumerGroupDescribeRequest { GroupIds = [group] })).Groups.Single();
}
