using Levee.Protocol;
using Levee.Storage.ProducerState;

namespace Levee.Storage.Tests.ProducerState;

public sealed class PartitionLogProducerStateTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string LogDir => _dir.Sub("orders-0");

    [Fact]
    public void DuplicateAppend_ReturnsTheOriginalOffsets_AndWritesNothing()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TestBatches.Build(3));
        var first = log.Append(ProducerBatches.Build(42, 0, 0, records: 2));
        var retry = log.Append(ProducerBatches.Build(42, 0, 0, records: 2));

        Assert.False(first.IsDuplicate);
        Assert.True(retry.IsDuplicate);
        Assert.Equal((3L, 4L), (retry.FirstOffset, retry.LastOffset));
        Assert.Equal(5, log.LogEndOffset);
    }

    [Fact]
    public void RefusedAppend_WritesNothing()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(ProducerBatches.Build(42, 1, 0));
        var gap = Assert.Throws<ProducerStateException>(() => log.Append(ProducerBatches.Build(42, 1, 5)));
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, gap.ErrorCode);
        var fenced = Assert.Throws<ProducerStateException>(() => log.Append(ProducerBatches.Build(42, 0, 1)));
        Assert.Equal(ErrorCode.InvalidProducerEpoch, fenced.ErrorCode);
        Assert.Equal(1, log.LogEndOffset);
    }

    [Fact]
    public void AfterCleanClose_ARetryIsStillADuplicate()
    {
        using (var log = LogExtensions.OpenLog(LogDir))
        {
            for (var seq = 0; seq < 5; seq++)
            {
                log.Append(ProducerBatches.Build(42, 0, seq));
            }
        }

        Assert.Equal([5L], ProducerSnapshotFile.List(LogDir));
        using var reopened = LogExtensions.OpenLog(LogDir);
        Assert.True(reopened.Append(ProducerBatches.Build(42, 0, 1)).IsDuplicate);
        Assert.Equal(5, reopened.LogEndOffset);
        Assert.Equal(5, reopened.Append(ProducerBatches.Build(42, 0, 5)).FirstOffset);
    }

    [Fact]
    public void AfterACrash_TheStateIsRebuiltFromTheLastRollSnapshotAndTheLog()
    {
        // Small segments: every batch rolls, so snapshots are written at the rolls; the log is never closed.
        var config = LogConfig.Default with { SegmentBytes = 200, FileDeleteDelayMs = 0 };
        var log = LogExtensions.OpenLog(LogDir, config);
        for (var seq = 0; seq < 6; seq++)
        {
            log.Append(ProducerBatches.Build(42, 0, seq));
        }

        Assert.Equal(ProducerStateManager.SnapshotsKept, ProducerSnapshotFile.List(LogDir).Count);
        Assert.All(ProducerSnapshotFile.List(LogDir), o => Assert.True(o < 6));

        // A crashed process does nothing more: wait out the background flush of the last roll (it writes the epoch
        // checkpoint), which would otherwise race the recovering log's own write of that file.
        var lastRoll = log.SegmentBaseOffsets[^1];
        Assert.True(SpinWait.SpinUntil(() => log.RecoveryPoint >= lastRoll, TimeSpan.FromSeconds(30)), $"recovery point {log.RecoveryPoint}, last roll at {lastRoll}");

        using var recovered = LogExtensions.OpenLog(LogDir, config, clean: false);
        Assert.True(recovered.Append(ProducerBatches.Build(42, 0, 5)).IsDuplicate);
        Assert.True(recovered.Append(ProducerBatches.Build(42, 0, 2)).IsDuplicate);
        Assert.Throws<ProducerStateException>(() => recovered.Append(ProducerBatches.Build(42, 0, 7)));
        Assert.Equal(6, recovered.Append(ProducerBatches.Build(42, 0, 6)).FirstOffset);
        GC.KeepAlive(log);
    }

    [Fact]
    public void AfterACrashWithoutAnySnapshot_TheStateIsReplayedFromTheWholeLog()
    {
        var log = LogExtensions.OpenLog(LogDir);
        log.Append(ProducerBatches.Build(42, 0, 0, records: 3));
        log.Append(ProducerBatches.Build(43, 2, 10));

        using var recovered = LogExtensions.OpenLog(LogDir, clean: false);
        Assert.Empty(ProducerSnapshotFile.List(LogDir));
        Assert.Equal(
            [new ActiveProducer(42, 0, 2, 1_700_000_000_000, 2, -1, -1), new ActiveProducer(43, 2, 10, 1_700_000_000_000, 3, -1, -1)],
            recovered.ActiveProducers());
        GC.KeepAlive(log);
    }

    [Fact]
    public void AfterATornTail_TheStateForgetsTheBatchRecoveryCut()
    {
        var log = LogExtensions.OpenLog(LogDir);
        log.Append(ProducerBatches.Build(42, 0, 0));
        var second = ProducerBatches.Build(42, 0, 1);
        log.Append(second);
        var segment = Path.Combine(LogDir, "00000000000000000000.log");
        using (var file = new FileStream(segment, FileMode.Open))
        {
            file.SetLength(file.Length - 5);
        }

        using var recovered = LogExtensions.OpenLog(LogDir, clean: false);
        Assert.Equal(1, recovered.LogEndOffset);

        // The cut batch is gone, so its retry is new data, appended at the end, not a duplicate.
        var retry = recovered.Append(ProducerBatches.Build(42, 0, 1));
        Assert.False(retry.IsDuplicate);
        Assert.Equal(1, retry.FirstOffset);
        GC.KeepAlive(log);
    }

    [Fact]
    public void Truncation_RewindsTheProducerState()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        for (var seq = 0; seq < 4; seq++)
        {
            log.Append(ProducerBatches.Build(42, 0, seq));
        }

        log.TruncateTo(2);
        Assert.Equal(1, Assert.Single(log.ActiveProducers()).LastSequence);
        Assert.Equal(2, log.Append(ProducerBatches.Build(42, 0, 2)).FirstOffset);
    }

    [Fact]
    public void ExpiredProducers_AreForgotten()
    {
        var time = new ManualTimeProvider(1_700_000_000_000);
        using var log = LogExtensions.OpenLog(LogDir, LogConfig.Default with { ProducerIdExpirationMs = 60_000 }, time);
        log.Append(ProducerBatches.Build(42, 0, 0, timestamp: time.NowMs));
        Assert.Equal(0, log.RemoveExpiredProducers(time.NowMs + 59_999));
        Assert.Equal(1, log.RemoveExpiredProducers(time.NowMs + 60_000));
        Assert.Empty(log.ActiveProducers());
    }
}
