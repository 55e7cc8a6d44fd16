namespace Levee.Storage.Tests;

public sealed class TimestampTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void OffsetForTimestamp_FindsTheFirstRecordAtOrAfterTheTimestamp()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), LogConfig.Default with { IndexIntervalBytes = 0 });
        log.Append(TestBatches.Build([100, 110, 120]));   // offsets 0-2
        log.Append(TestBatches.Build([130, 150, 140]));   // offsets 3-5
        log.Append(TestBatches.Build([160, 170]));        // offsets 6-7

        Assert.Equal(new TimestampAndOffset(0, 100, 0), log.OffsetForTimestamp(0));
        Assert.Equal(new TimestampAndOffset(1, 110, 0), log.OffsetForTimestamp(105));
        Assert.Equal(new TimestampAndOffset(4, 150, 0), log.OffsetForTimestamp(135));
        Assert.Equal(new TimestampAndOffset(4, 150, 0), log.OffsetForTimestamp(150));
        Assert.Equal(new TimestampAndOffset(6, 160, 0), log.OffsetForTimestamp(155));
        Assert.Null(log.OffsetForTimestamp(171));
    }

    [Fact]
    public void OffsetForTimestamp_SpecialValues()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build([100, 300, 200]), epoch: 2);
        log.Append(TestBatches.Build([250]), epoch: 3);

        Assert.Equal(4, log.OffsetForTimestamp(PartitionLog.LatestTimestamp)!.Value.Offset);
        Assert.Equal(0, log.OffsetForTimestamp(PartitionLog.EarliestTimestamp)!.Value.Offset);
        Assert.Equal(new TimestampAndOffset(1, 300, 2), log.OffsetForTimestamp(PartitionLog.MaxTimestampQuery));
    }

    [Fact]
    public void OffsetForTimestamp_AcrossManySegments_UsesTheRightSegment()
    {
        var size = TestBatches.Build(1).Length;
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), LogConfig.Default with { SegmentBytes = size * 4, IndexIntervalBytes = size });
        for (var i = 0; i < 40; i++)
        {
            log.Append(TestBatches.Build([1000 + (i * 10)]));
        }

        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(new TimestampAndOffset(i, 1000 + (i * 10), 0), log.OffsetForTimestamp(995 + (i * 10)));
        }

        Assert.Equal(39, log.OffsetForTimestamp(PartitionLog.MaxTimestampQuery)!.Value.Offset);
    }

    [Fact]
    public void MaxTimestamp_SurvivesReopen()
    {
        var dir = _dir.Sub("orders-0");
        using (var log = LogExtensions.OpenLog(dir))
        {
            log.Append(TestBatches.Build([5, 9, 7]));
            log.Append(TestBatches.Build([8]));
        }

        using var reopened = LogExtensions.OpenLog(dir);
        Assert.Equal(new TimestampAndOffset(1, 9, 0), reopened.OffsetForTimestamp(PartitionLog.MaxTimestampQuery));

        // Record order decides, not timestamp order: offset 1 (ts 9) is the first record with ts >= 8.
        Assert.Equal(new TimestampAndOffset(1, 9, 0), reopened.OffsetForTimestamp(8));
    }
}
