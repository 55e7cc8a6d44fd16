using Levee.Broker.Partitions;
using Levee.Cluster.Metadata;
using Levee.Protocol.Records;
using Levee.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Levee.Broker.Tests.Replication;

/// <summary>
/// An acks=all produce waiting for the high watermark must end as soon as this broker stops leading the
/// partition (found by tests/Levee.Faults: a controlled shutdown stalled idempotent producers until the
/// stopping broker closed its connections, because waiters were only woken by a moving high watermark).
/// </summary>
public sealed class PartitionLeadershipChangeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-partition-" + Guid.NewGuid().ToString("N"));
    private readonly PartitionLog _log;
    private readonly PartitionImage _leading = new(Guid.NewGuid(), 0, [1, 2, 3], [1, 2, 3], Leader: 1, LeaderEpoch: 5, PartitionEpoch: 7);

    public PartitionLeadershipChangeTests()
    {
        _log = PartitionLog.Open(Path.Combine(_dir, "t-0"), new TopicPartition("t", 0), LogConfig.Default, 0, true, NullLogger.Instance, TimeProvider.System);
    }

    [Fact]
    public async Task HighWatermarkWaiter_Fails_WhenLeadershipMovesToAnotherBroker()
    {
        var partition = new Partition(new TopicPartition("t", 0), _leading, _log, localBrokerId: 1, TimeProvider.System);
        var waiting = partition.WaitForHighWatermarkAsync(1, CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        partition.ApplyState(_leading with { Leader = 2, Isr = [2, 3], LeaderEpoch = 6, PartitionEpoch = 8 });

        await Assert.ThrowsAsync<InvalidOperationException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task HighWatermarkWaiter_Fails_WhenTheLeaderEpochChanges()
    {
        var partition = new Partition(new TopicPartition("t", 0), _leading, _log, localBrokerId: 1, TimeProvider.System);
        var waiting = partition.WaitForHighWatermarkAsync(1, CancellationToken.None);

        partition.ApplyState(_leading with { LeaderEpoch = 6, PartitionEpoch = 8 });

        await Assert.ThrowsAsync<InvalidOperationException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void HighWatermarkWaiter_KeepsWaiting_WhenOnlyTheIsrChanges()
    {
        var partition = new Partition(new TopicPartition("t", 0), _leading, _log, localBrokerId: 1, TimeProvider.System);
        var waiting = partition.WaitForHighWatermarkAsync(1, CancellationToken.None);

        partition.ApplyState(_leading with { Isr = [1, 2], PartitionEpoch = 8 });

        Assert.False(waiting.IsCompleted);
    }

    [Fact]
    public void FollowerLag_IsTheLeadersLogEndLessEachFollowersFetchOffset_AndNothingOnceNotLeading()
    {
        var partition = new Partition(new TopicPartition("t", 0), _leading, _log, localBrokerId: 1, TimeProvider.System);
        partition.Append(RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [.. Enumerable.Range(0, 10).Select(i => new RecordData(null, new byte[] { (byte)i }, 1_700_000_000_000))]), useLogAppendTime: false);
        partition.RecordFollowerFetch(2, 10);
        partition.RecordFollowerFetch(3, 4);

        Assert.Equal([(2, 0L), (3, 6L)], partition.FollowerLag().OrderBy(l => l.Replica));

        partition.ApplyState(_leading with { Leader = 2, Isr = [2, 3], LeaderEpoch = 6, PartitionEpoch = 8 });
        Assert.Empty(partition.FollowerLag());
    }

    public void Dispose()
    {
        _log.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
