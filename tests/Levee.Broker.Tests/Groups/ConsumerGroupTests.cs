using Confluent.Kafka;
using Levee.Broker.Tests.Infrastructure;
using static Levee.Broker.Tests.Groups.GroupTestSupport;
using ErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Groups;

public sealed class ConsumerGroupTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static ConsumerConfig Config(string bootstrap, string group, PartitionAssignmentStrategy? strategy = null) => new()
    {
        BootstrapServers = bootstrap,
        GroupId = group,
        EnableAutoCommit = false,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        SessionTimeoutMs = 6000,
        HeartbeatIntervalMs = 300,
        MaxPollIntervalMs = 10_000,
        PartitionAssignmentStrategy = strategy ?? PartitionAssignmentStrategy.Range,
    };

    [Fact]
    public async Task ThreeConsumersOnSixPartitions_EachPartitionOwnedByExactlyOneMember()
    {
        await using var broker = await TestBroker.StartAsync(Quick);
        await CreateTopicAsync(broker.BootstrapServers, "six", 6);
        var ledger = new OwnershipLedger();
        var consumers = Enumerable.Range(0, 3).Select(i => new TrackedConsumer($"c{i}", Config(broker.BootstrapServers, "three"), "six", ledger)).ToList();
        try
        {
            await WaitUntilAsync(
                () => consumers.All(c => c.Owned.Count == 2) && consumers.SelectMany(c => c.Owned).Distinct().Count() == 6,
                Patience,
                () => ledger.Describe());
            Assert.Empty(ledger.Violations);

            using var raw = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
            var described = await raw.DescribeAsync("three");
            Assert.Equal("Stable", described.GroupState);
            Assert.Equal("consumer", described.ProtocolType);
            Assert.Equal("range", described.ProtocolData);
            Assert.Equal(3, described.Members.Count);
            var assigned = described.Members.SelectMany(m => ReadAssignment(m.MemberAssignment)).ToList();
            Assert.Equal(Enumerable.Range(0, 6), assigned.Select(a => a.Partition).Order());
        }
        finally
        {
            consumers.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task CooperativeSticky_FourthJoinsAndOneLeaves_NoPartitionOwnedTwiceAndNoCommittedRecordReadTwice()
    {
        await using var broker = await TestBroker.StartAsync(Quick);
        await CreateTopicAsync(broker.BootstrapServers, "coop", 6);
        var ledger = new OwnershipLedger();
        using var producing = new CancellationTokenSource();
        var produced = 0;
        var producer = Task.Run(async () =>
        {
            using var p = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, LingerMs = 1 }).Build();
            while (!producing.IsCancellationRequested)
            {
                for (var partition = 0; partition < 6; partition++)
                {
                    p.Produce(new TopicPartition("coop", partition), new Message<string, string> { Key = "k", Value = "v" });
                    Interlocked.Increment(ref produced);
                }

                p.Flush(TimeSpan.FromSeconds(10));
                await Task.Delay(20);
            }

            p.Flush(TimeSpan.FromSeconds(10));
        });

        var config = (string _) => Config(broker.BootstrapServers, "coop-group", PartitionAssignmentStrategy.CooperativeSticky);
        var consumers = new List<TrackedConsumer>();
        try
        {
            consumers.AddRange(Enumerable.Range(0, 3).Select(i => new TrackedConsumer($"c{i}", config("c"), "coop", ledger)));
            await WaitUntilAsync(() => consumers.All(c => c.Owned.Count == 2) && ledger.Snapshot().Count == 6, Patience, ledger.Describe);

            consumers.Add(new TrackedConsumer("c3", config("c"), "coop", ledger));
            await WaitUntilAsync(() => consumers.All(c => c.Owned.Count >= 1) && ledger.Snapshot().Count == 6, Patience, ledger.Describe);

            var leaving = consumers[1];
            leaving.Stop();
            await WaitUntilAsync(() => ledger.Snapshot().Count == 6 && !ledger.Snapshot().ContainsValue(leaving.Name), Patience, ledger.Describe);

            await producing.CancelAsync();
            await producer;
            var total = Volatile.Read(ref produced);
            await WaitUntilAsync(
                () => consumers.SelectMany(c => c.Consumed).Select(e => (e.Partition, e.Offset)).Distinct().Count() == total,
                Patience,
                () => $"{consumers.SelectMany(c => c.Consumed).Select(e => (e.Partition, e.Offset)).Distinct().Count()} of {total} records consumed");

            Assert.Empty(ledger.Violations);
            Assert.All(consumers, c => Assert.NotEmpty(c.Consumed));
            using (var raw = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
            {
                var described = await raw.DescribeAsync("coop-group");
                Assert.Equal("cooperative-sticky", described.ProtocolData);
                Assert.Equal(3, described.Members.Count);
            }

            // A record read after some commit already covered it would mean the new owner started from a stale offset.
            var commits = consumers.SelectMany(c => c.Committed).ToList();
            var rereads = consumers.SelectMany(c => c.Consumed)
                .Where(read => commits.Any(commit => commit.Partition == read.Partition && commit.Offset > read.Offset && commit.Sequence < read.Sequence))
                .ToList();
            Assert.True(rereads.Count == 0, "read after commit: " + string.Join(", ", rereads.Take(10)));
        }
        finally
        {
            await producing.CancelAsync();
            await producer;
            consumers.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task MemberThatStopsHeartbeating_IsEvictedAfterSessionTimeout_AndItsPartitionsMove()
    {
        await using var broker = await TestBroker.StartAsync(o => Quick(o) with { GroupMinSessionTimeoutMs = 1000 });
        await CreateTopicAsync(broker.BootstrapServers, "evict", 6);
        var ledger = new OwnershipLedger();
        using var survivor = new TrackedConsumer("survivor", Config(broker.BootstrapServers, "evict-group"), "evict", ledger);
        await WaitUntilAsync(() => survivor.Owned.Count == 6, Patience, ledger.Describe);

        // A raw member joins (the survivor learns of the rebalance through its heartbeat and rejoins), receives
        // its share in SyncGroup, then goes silent: no heartbeat, no LeaveGroup.
        using var silent = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        const int sessionTimeoutMs = 2000;
        var joined = await silent.JoinAsync("evict-group", "evict", sessionTimeoutMs);
        Assert.Equal(0, joined.ErrorCode);
        Assert.NotEqual(joined.MemberId, joined.Leader);
        var synced = await silent.SyncAsync("evict-group", joined.GenerationId, joined.MemberId);
        Assert.Equal(0, synced.ErrorCode);
        var silentShare = ReadAssignment(synced.Assignment);
        Assert.Equal(3, silentShare.Count);
        var silenceStarted = DateTime.UtcNow;
        await WaitUntilAsync(() => survivor.Owned.Count == 3, Patience, ledger.Describe);

        await WaitUntilAsync(() => survivor.Owned.Count == 6, Patience, ledger.Describe);
        Assert.True(DateTime.UtcNow - silenceStarted >= TimeSpan.FromMilliseconds(sessionTimeoutMs - 100), "evicted before its session timeout");
        Assert.Empty(ledger.Violations);

        var described = await silent.DescribeAsync("evict-group");
        Assert.Single(described.Members);
        Assert.DoesNotContain(described.Members, m => m.MemberId == joined.MemberId);
        Assert.Equal(ErrorCode.UnknownMemberId, await silent.HeartbeatAsync("evict-group", joined.GenerationId, joined.MemberId));
    }

    [Fact]
    public async Task BrokerRestart_CommittedOffsetsIntact_ConsumersResumeWhereTheyCommitted()
    {
        await using var broker = await TestBroker.StartAsync(Quick);
        await CreateTopicAsync(broker.BootstrapServers, "durable", 2);
        await ProduceAsync(broker.BootstrapServers, "durable", 2, 50);

        List<TopicPartitionOffset> committed;
        using (var consumer = new ConsumerBuilder<string, string>(Config(broker.BootstrapServers, "durable-group")).Build())
        {
            consumer.Subscribe("durable");
            var read = 0;
            var deadline = DateTime.UtcNow + Patience;
            while (read < 60)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {read} records read");
                var result = consumer.Consume(TimeSpan.FromSeconds(1));
                if (result is null)
                {
                    continue;
                }

                read++;
                consumer.Commit(result);
            }

            committed = consumer.Committed(TimeSpan.FromSeconds(10));
            consumer.Close();
        }

        Assert.Equal(60, committed.Sum(c => c.Offset.Value));

        await broker.RestartAsync();

        using (var consumer = new ConsumerBuilder<string, string>(Config(broker.BootstrapServers, "durable-group")).Build())
        {
            consumer.Subscribe("durable");
            var first = new Dictionary<int, long>();
            var read = 0;
            var deadline = DateTime.UtcNow + Patience;
            while (read < 40)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {read} of the 40 uncommitted records read after the restart");
                var result = consumer.Consume(TimeSpan.FromSeconds(1));
                if (result is null)
                {
                    continue;
                }

                first.TryAdd(result.Partition.Value, result.Offset.Value);
                read++;
            }

            Assert.Null(consumer.Consume(TimeSpan.FromMilliseconds(500)));
            foreach (var c in committed.Where(c => c.Offset.Value < 50))
            {
                Assert.Equal(c.Offset.Value, first[c.Partition.Value]);
            }

            var again = consumer.Committed([new TopicPartition("durable", 0), new TopicPartition("durable", 1)], TimeSpan.FromSeconds(10));
            Assert.Equal(committed.Select(c => c.Offset.Value).Order(), again.Select(c => c.Offset.Value).Order());
            consumer.Close();
        }
    }
}
