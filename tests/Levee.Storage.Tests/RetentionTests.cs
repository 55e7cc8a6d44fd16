namespace Levee.Storage.Tests;

public sealed class RetentionTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly int BatchSize = TestBatches.Build(2).Length;

    /// <summary>A log with segments of 2 batches (4 offsets) each: bases 0, 4, 8, ...</summary>
    private PartitionLog LogWithSegments(int batches, LogConfig? config = null, ManualTimeProvider? time = null, Func<int, long>? timestamp = null)
    {
        config ??= LogConfig.Default;
        config = config with { SegmentBytes = BatchSize * 2, FileDeleteDelayMs = 0 };
        var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), config, time);
        for (var i = 0; i < batches; i++)
        {
            log.Append(TestBatches.Build(2, timestamp: timestamp?.Invoke(i) ?? 1000));
        }

        return log;
    }

    [Fact]
    public void RetentionBySize_DeletesOldestSegmentsAndMovesLogStartOffset()
    {
        using var log = LogWithSegments(9, LogConfig.Default with { RetentionBytes = BatchSize * 4 });
        Assert.Equal([0L, 4L, 8L, 12L, 16L], log.SegmentBaseOffsets);

        var deleted = log.ApplyRetention(nowMs: 2000); // timestamps are 1000: retention.ms (7 days) does not apply

        // 9 batches over a 4-batch limit: Kafka drops a segment only if the log stays at or above the limit
        // without it, so segments 0 and 4 go (5 batches left) and segment 8 stays.
        Assert.Equal(2, deleted);
        Assert.Equal([8L, 12L, 16L], log.SegmentBaseOffsets);
        Assert.Equal(8, log.LogStartOffset);
        Assert.False(File.Exists(Path.Combine(_dir.Sub("orders-0"), "00000000000000000000.log")));
        Assert.False(File.Exists(Path.Combine(_dir.Sub("orders-0"), "00000000000000000000.log.deleted")));
        Assert.Throws<OffsetOutOfRangeException>(() => log.Read(7, 100, long.MaxValue, true));
        Assert.Equal(8, log.ReadAllOffsets(8)[0].Base);
    }

    [Fact]
    public void RetentionByTime_DeletesSegmentsWhoseNewestTimestampIsTooOld()
    {
        var time = new ManualTimeProvider(100_000);
        using var log = LogWithSegments(6, LogConfig.Default with { RetentionMs = 10_000 }, time, i => 50_000 + (i * 10_000));
        // Segment 0: timestamps 50k, 60k; segment 4: 70k, 80k; segment 8: 90k, 100k (active).

        var deleted = log.ApplyRetention(time.NowMs + 5_000);

        Assert.Equal(2, deleted);
        Assert.Equal([8L], log.SegmentBaseOffsets);
        Assert.Equal(8, log.LogStartOffset);
    }

    [Fact]
    public void Retention_WhenEverythingExpired_RollsAnEmptyActiveSegmentAtTheLogEnd()
    {
        var time = new ManualTimeProvider();
        using var log = LogWithSegments(3, LogConfig.Default with { RetentionMs = 1_000 }, time);

        log.ApplyRetention(1_000_000);

        Assert.Equal([6L], log.SegmentBaseOffsets);
        Assert.Equal(6, log.LogStartOffset);
        Assert.Equal(6, log.LogEndOffset);
        Assert.Equal(6, log.Append(TestBatches.Build(1)).FirstOffset);
    }

    [Fact]
    public void Retention_KeepsSegmentsAboveTheHighWatermark()
    {
        using var log = LogWithSegments(4, LogConfig.Default with { RetentionMs = 1 });
        log.HighWatermark = 3;

        Assert.Equal(0, log.ApplyRetention(1_000_000));
        Assert.Equal(0, log.LogStartOffset);
    }

    [Fact]
    public void Retention_WithInfiniteSettings_DeletesNothing()
    {
        using var log = LogWithSegments(6, LogConfig.Default with { RetentionMs = -1, RetentionBytes = -1 });

        Assert.Equal(0, log.ApplyRetention(long.MaxValue / 2));
        Assert.Equal(3, log.SegmentCount);
    }

    [Fact]
    public void DeleteRecordsBefore_MovesLogStartOffsetAndDeletesWholeSegmentsBelowIt()
    {
        using var log = LogWithSegments(6);

        var low = log.DeleteRecordsBefore(6);

        Assert.Equal(6, low);
        Assert.Equal(6, log.LogStartOffset);
        Assert.Equal([4L, 8L], log.SegmentBaseOffsets);
        Assert.Throws<OffsetOutOfRangeException>(() => log.Read(5, 100, long.MaxValue, true));
        Assert.Equal((6L, 7L), log.ReadAllOffsets(6)[0]);
        Assert.Equal(6, log.OffsetForTimestamp(PartitionLog.EarliestTimestamp)!.Value.Offset);
        Assert.Throws<OffsetOutOfRangeException>(() => log.DeleteRecordsBefore(log.HighWatermark + 1));
    }

    [Fact]
    public void DeletedSegment_StaysReadableUntilFileDeleteDelay()
    {
        var dir = _dir.Sub("orders-0");
        var log = LogExtensions.OpenLog(dir, LogConfig.Default with { SegmentBytes = BatchSize, FileDeleteDelayMs = 60_000 });
        try
        {
            log.Append(TestBatches.Build(2));
            log.Append(TestBatches.Build(2));
            var read = log.Read(0, 1 << 20, log.HighWatermark, true);

            log.DeleteRecordsBefore(2);

            Assert.True(File.Exists(Path.Combine(dir, "00000000000000000000.log.deleted")));
            Assert.False(File.Exists(Path.Combine(dir, "00000000000000000000.log")));
            Assert.Equal([(0L, 1L)], TestBatches.Offsets(read.ReadBytes()));
        }
        finally
        {
            log.Dispose();
        }

        Assert.False(File.Exists(Path.Combine(dir, "00000000000000000000.log.deleted")));
    }
}
