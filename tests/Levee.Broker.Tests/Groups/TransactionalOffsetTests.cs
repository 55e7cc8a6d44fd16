using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using static Levee.Broker.Tests.Groups.GroupTestSupport;
using static Levee.Broker.Tests.Groups.TransactionalOffsetSupport;

namespace Levee.Broker.Tests.Groups;

/// <summary>
/// TxnOffsetCommit (KIP-98, KIP-447): offsets committed in a transaction are pending until the producer's marker
/// reaches the group's __consumer_offsets partition; the markers are written as the WriteTxnMarkers path writes them.
/// </summary>
public sealed class TransactionalOffsetTests : IAsyncLifetime
{
    private const long ProducerId = 4000;
    private const short Epoch = 0;

    private TestBroker _broker = null!;
    private RawKafkaClient _raw = null!;

    public async Task InitializeAsync()
    {
        // These tests drive the group coordinator alone, with producers no transaction coordinator knows: KIP-890's
        // verification (TransactionProtocolTests covers it) is off.
        _broker = await TestBroker.StartAsync(o => Quick(o) with { GroupInitialRebalanceDelayMs = 0, TransactionPartitionVerificationEnable = false });
        await CreateTopicAsync(_broker.BootstrapServers, "t", 2);
        _raw = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
    }

    public async Task DisposeAsync()
    {
        _raw.Dispose();
        await _broker.DisposeAsync();
    }

    /// <summary>Restarts the broker on its data (the coordinator loads __consumer_offsets again) and reconnects.</summary>
    private async Task RestartAsync()
    {
        _raw.Dispose();
        await _broker.RestartAsync();
        _raw = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
    }

    [Fact]
    public async Task TxnOffsetCommit_IsInvisibleUntilTheCommitMarker_ThenFetched()
    {
        Assert.Equal(ErrorCode.None, await _raw.CommitAsync("app", -1, "", "t", 0, 5));
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "t", 0, 10));

        Assert.Equal((ErrorCode.None, 5), await _raw.FetchAsync("app", "t", 0, requireStable: false));
        Assert.Equal((ErrorCode.UnstableOffsetCommit, -1), await _raw.FetchAsync("app", "t", 0, requireStable: true));
        Assert.Equal((ErrorCode.None, -1), await _raw.FetchAsync("app", "t", 1, requireStable: true));

        WriteMarker(_broker, "app", ProducerId, Epoch, commit: true);

        Assert.Equal((ErrorCode.None, 10), await _raw.FetchAsync("app", "t", 0, requireStable: false));
        Assert.Equal((ErrorCode.None, 10), await _raw.FetchAsync("app", "t", 0, requireStable: true));
    }

    [Fact]
    public async Task AbortMarker_DropsTheTransactionsOffsets_AndTheCommittedOneStays()
    {
        Assert.Equal(ErrorCode.None, await _raw.CommitAsync("app", -1, "", "t", 0, 5));
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "t", 0, 10));

        WriteMarker(_broker, "app", ProducerId, Epoch, commit: false);

        Assert.Equal((ErrorCode.None, 5), await _raw.FetchAsync("app", "t", 0, requireStable: true));
    }

    [Fact]
    public async Task TwoTransactionsOfOneProducerAndEpoch_EachLandsAndEndsOnItsOwnMarker()
    {
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "t", 0, 10));
        WriteMarker(_broker, "app", ProducerId, Epoch, commit: true);
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "t", 0, 20));
        Assert.Equal((ErrorCode.UnstableOffsetCommit, -1), await _raw.FetchAsync("app", "t", 0, requireStable: true));
        WriteMarker(_broker, "app", ProducerId, Epoch, commit: true);

        Assert.Equal((ErrorCode.None, 20), await _raw.FetchAsync("app", "t", 0, requireStable: true));
    }

    [Fact]
    public async Task CommitWrittenAfterTheTransactionalOffset_StaysWhenTheTransactionCommits()
    {
        // Kafka orders by place in the log: the plain commit of 20 came after the transaction's 10.
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "t", 0, 10));
        Assert.Equal(ErrorCode.None, await _raw.CommitAsync("app", -1, "", "t", 0, 20));
        WriteMarker(_broker, "app", ProducerId, Epoch, commit: true);
        Assert.Equal((ErrorCode.None, 20), await _raw.FetchAsync("app", "t", 0, requireStable: true));

        // ... and a transaction written after a plain commit replaces it.
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "t", 0, 15));
        WriteMarker(_broker, "app", ProducerId, Epoch, commit: true);
        Assert.Equal((ErrorCode.None, 15), await _raw.FetchAsync("app", "t", 0, requireStable: true));
    }

    [Fact]
    public async Task Reload_AnswersAsBefore_ForCommittedAbortedAndOpenTransactions()
    {
        Assert.Equal(ErrorCode.None, await _raw.CommitAsync("app", -1, "", "t", 0, 5));
        Assert.Equal(ErrorCode.None, await _raw.CommitAsync("app", -1, "", "t", 1, 6));

        // Producer 1 commits t-0 at 10; producer 2 aborts t-1 at 99; producer 3 leaves t-1 at 30 open.
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("a", "app", 1, Epoch, "t", 0, 10));
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("b", "app", 2, Epoch, "t", 1, 99));
        WriteMarker(_broker, "app", 1, Epoch, commit: true);
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("c", "app", 3, Epoch, "t", 1, 30));
        WriteMarker(_broker, "app", 2, Epoch, commit: false);

        // A group that only holds an open transaction's offset is loaded too.
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("d", "only-pending", 4, Epoch, "t", 0, 7));

        async Task AssertAnswersAsync()
        {
            Assert.Equal((ErrorCode.None, 10), await _raw.FetchAsync("app", "t", 0, requireStable: true));
            Assert.Equal((ErrorCode.None, 6), await _raw.FetchAsync("app", "t", 1, requireStable: false));
            Assert.Equal((ErrorCode.UnstableOffsetCommit, -1), await _raw.FetchAsync("app", "t", 1, requireStable: true));
            Assert.Equal((ErrorCode.UnstableOffsetCommit, -1), await _raw.FetchAsync("only-pending", "t", 0, requireStable: true));
        }

        await AssertAnswersAsync();
        await RestartAsync();
        await AssertAnswersAsync();

        // The open transactions end after the reload, through the same hook.
        WriteMarker(_broker, "app", 3, Epoch, commit: true);
        WriteMarker(_broker, "only-pending", 4, Epoch, commit: false);
        Assert.Equal((ErrorCode.None, 30), await _raw.FetchAsync("app", "t", 1, requireStable: true));
        Assert.Equal((ErrorCode.None, -1), await _raw.FetchAsync("only-pending", "t", 0, requireStable: true));
    }

    [Fact]
    public async Task OffsetDelete_DropsAnOpenTransactionsOffsetToo_AndAReloadAgrees()
    {
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "t", 0, 10));
        var deleted = await _raw.CallAsync<OffsetDeleteResponse>(ApiKey.OffsetDelete, 0, new OffsetDeleteRequest
        {
            GroupId = "app",
            Topics = [new OffsetDeleteRequest.OffsetDeleteRequestTopic { Name = "t", Partitions = [new OffsetDeleteRequest.OffsetDeleteRequestPartition { PartitionIndex = 0 }] }],
        });
        Assert.Equal(0, deleted.ErrorCode);
        Assert.Equal((ErrorCode.None, -1), await _raw.FetchAsync("app", "t", 0, requireStable: true));

        // The marker then finds nothing to commit, before and after a reload.
        WriteMarker(_broker, "app", ProducerId, Epoch, commit: true);
        Assert.Equal((ErrorCode.None, -1), await _raw.FetchAsync("app", "t", 0, requireStable: true));
        await RestartAsync();
        Assert.Equal((ErrorCode.None, -1), await _raw.FetchAsync("app", "t", 0, requireStable: true));
    }

    [Fact]
    public async Task DeleteGroups_OfAGroupWithAnOpenTransaction_StaysDeleted_AfterTheMarkerAndAReload()
    {
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "gone", ProducerId, Epoch, "t", 0, 10));
        var deleted = await _raw.CallAsync<DeleteGroupsResponse>(ApiKey.DeleteGroups, 2, new DeleteGroupsRequest { GroupsNames = ["gone"] });
        Assert.Equal(0, Assert.Single(deleted.Results).ErrorCode);

        WriteMarker(_broker, "gone", ProducerId, Epoch, commit: true);
        Assert.Equal((ErrorCode.None, -1), await _raw.FetchAsync("gone", "t", 0, requireStable: true));
        await RestartAsync();
        Assert.Equal((ErrorCode.None, -1), await _raw.FetchAsync("gone", "t", 0, requireStable: true));
        Assert.Equal("Dead", (await _raw.DescribeAsync("gone")).GroupState);
    }

    [Fact]
    public async Task MemberFields_AreCheckedAsKafkaChecksThem()
    {
        var joined = await _raw.JoinAsync("members", "t");
        Assert.Equal(0, (await _raw.SyncAsync("members", joined.GenerationId, joined.MemberId, (joined.MemberId, []))).ErrorCode);
        var generation = joined.GenerationId;

        Assert.Equal(ErrorCode.IllegalGeneration, await _raw.TxnCommitAsync("txn", "members", ProducerId, Epoch, "t", 0, 1, generation: generation + 1, memberId: joined.MemberId));
        Assert.Equal(ErrorCode.UnknownMemberId, await _raw.TxnCommitAsync("txn", "members", ProducerId, Epoch, "t", 0, 1, generation: generation, memberId: "stranger"));
        Assert.Equal(ErrorCode.UnknownMemberId, await _raw.TxnCommitAsync("txn", "members", ProducerId, Epoch, "t", 0, 1, generation: generation, memberId: joined.MemberId, groupInstanceId: "not-registered"));
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "members", ProducerId, Epoch, "t", 0, 1, generation: generation, memberId: joined.MemberId));

        // v0-v2 name no member: accepted on a group in use, as Kafka accepts them.
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "members", ProducerId, Epoch, "t", 1, 2, version: 2));

        // A generation of a group that does not exist is stale; without one the group is created empty.
        Assert.Equal(ErrorCode.IllegalGeneration, await _raw.TxnCommitAsync("txn", "nobody", ProducerId, Epoch, "t", 0, 1, generation: 3, memberId: "m"));
        Assert.Equal("Dead", (await _raw.DescribeAsync("nobody")).GroupState);
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "fresh", ProducerId, Epoch, "t", 0, 1, version: 0));
        Assert.Equal("Empty", (await _raw.DescribeAsync("fresh")).GroupState);
    }

    [Fact]
    public async Task StaticMember_WithAnotherMemberId_IsFenced()
    {
        var join = await _raw.CallAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "static",
            GroupInstanceId = "instance-1",
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = Subscription("t") }],
        });
        Assert.Equal(0, join.ErrorCode);

        Assert.Equal(ErrorCode.FencedInstanceId, await _raw.TxnCommitAsync("txn", "static", ProducerId, Epoch, "t", 0, 1, generation: join.GenerationId, memberId: "old-incarnation", groupInstanceId: "instance-1"));
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "static", ProducerId, Epoch, "t", 0, 1, generation: join.GenerationId, memberId: join.MemberId, groupInstanceId: "instance-1"));
    }

    [Fact]
    public async Task RequestErrors_UnknownPartitionStaleEpochAndNoProducer()
    {
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "t", 7, 1));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, await _raw.TxnCommitAsync("txn", "app", ProducerId, Epoch, "no-such-topic", 0, 1));
        Assert.Equal(ErrorCode.InvalidProducerIdMapping, await _raw.TxnCommitAsync("txn", "app", -1, -1, "t", 0, 1));

        // The producer's epoch 3 was seen on the offsets partition: epoch 2 is fenced, and nothing of it is pending.
        Assert.Equal(ErrorCode.None, await _raw.TxnCommitAsync("txn", "app", ProducerId, 3, "t", 0, 1));
        WriteMarker(_broker, "app", ProducerId, 3, commit: true);
        Assert.Equal(ErrorCode.InvalidProducerEpoch, await _raw.TxnCommitAsync("txn", "app", ProducerId, 2, "t", 0, 2));
        Assert.Equal((ErrorCode.None, 1), await _raw.FetchAsync("app", "t", 0, requireStable: true));
    }

    [Fact]
    public async Task Version5_IsAdvertisedAndServedAsVersion4()
    {
        var versions = await _raw.CallAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest { ClientSoftwareName = "t", ClientSoftwareVersion = "1" });
        var advertised = versions.ApiKeys.Single(k => k.ApiKey == (short)ApiKey.TxnOffsetCommit);
        Assert.Equal((0, 5), (advertised.MinVersion, advertised.MaxVersion));

        var request = new TxnOffsetCommitRequest
        {
            TransactionalId = "txn",
            GroupId = "v5",
            ProducerId = ProducerId,
            ProducerEpoch = Epoch,
            Topics = [new TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic { Name = "t", Partitions = [new TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition { PartitionIndex = 0, CommittedOffset = 8 }] }],
        };
        var id = await _raw.SendAsync(ApiKey.TxnOffsetCommit, 5, (ref KafkaWriter w) => request.Write(ref w, 4));
        var body = await _raw.ReceiveAsync(ApiKey.TxnOffsetCommit, 5, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        var response = TxnOffsetCommitResponse.Read(ref reader, 4);
        Assert.Equal(0, response.Topics.Single().Partitions.Single().ErrorCode);
        WriteMarker(_broker, "v5", ProducerId, Epoch, commit: true);
        Assert.Equal((ErrorCode.None, 8), await _raw.FetchAsync("v5", "t", 0, requireStable: true));
    }
}
