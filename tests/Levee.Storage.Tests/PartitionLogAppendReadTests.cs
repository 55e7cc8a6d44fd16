using System.Buffers.Binary;
using Levee.Protocol.Records;

namespace Levee.Storage.Tests;

public sealed class PartitionLogAppendReadTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void AppendThenRead_ReturnsTheBytesExactlyAsStored()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        var batch = TestBatches.Build(3);
        var info = log.Append(batch, epoch: 5);

        Assert.Equal(0, info.FirstOffset);
        Assert.Equal(2, info.LastOffset);
        Assert.Equal(3, log.LogEndOffset);
        Assert.Equal(-1, info.LogAppendTime);
        Assert.Equal(0, info.Position);
        var read = log.Read(0, 1 << 20, log.HighWatermark, minOneBatch: true);
        Assert.Equal(batch.Length, read.Length);
        Assert.Equal(batch, read.ReadBytes()); // the caller's span was patched in place, so they match exactly
        Assert.True(TestBatches.CrcIsValid(read.ReadBytes()));
    }

    [Fact]
    public void AppendAsLeader_AssignsConsecutiveOffsetsAndLeaderEpochInPlace()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build(2));
        var batches = TestBatches.Concat(TestBatches.Build(3), TestBatches.Build(4), TestBatches.Build(1));

        var info = log.AppendAsLeader(batches, leaderEpoch: 7);

        Assert.Equal(2, info.FirstOffset);
        Assert.Equal(9, info.LastOffset);
        Assert.Equal(3, info.BatchCount);
        Assert.Equal(8, info.RecordCount);
        Assert.Equal([(2L, 4L), (5L, 8L), (9L, 9L)], TestBatches.Offsets(batches));
        Assert.Equal(7, new RecordBatchHeader(batches).PartitionLeaderEpoch);
        Assert.Equal(10, log.LogEndOffset);
        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(7, 2)], log.LeaderEpochs);
        Assert.True(TestBatches.CrcIsValid(batches)); // base offset and epoch are outside the CRC
    }

    [Fact]
    public void AppendAsLeader_WithLogAppendTime_StampsBrokerTimeAndKeepsCrcValid()
    {
        var time = new ManualTimeProvider(5_000_000);
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), time: time);
        var batch = TestBatches.Build(2, timestamp: 42);

        var info = log.AppendAsLeader(batch, 0, useLogAppendTime: true);

        Assert.Equal(5_000_000, info.LogAppendTime);
        var header = new RecordBatchHeader(batch);
        Assert.True(header.IsLogAppendTime);
        Assert.Equal(5_000_000, header.MaxTimestamp);
        Assert.True(TestBatches.CrcIsValid(batch));
    }

    [Fact]
    public void AppendAsLeader_WithMalformedBytes_ThrowsAndWritesNothing()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        var batch = TestBatches.Build(2);
        Assert.Throws<ArgumentException>(() => log.AppendAsLeader(batch.AsSpan(0, batch.Length - 1), 0));
        var wrongMagic = TestBatches.Build(2);
        wrongMagic[RecordBatchHeader.MagicPosition] = 1;
        Assert.Throws<ArgumentException>(() => log.AppendAsLeader(wrongMagic, 0));
        Assert.Equal(0, log.LogEndOffset);
        Assert.Equal(0, log.Size);
    }

    [Fact]
    public void Read_FromMiddleOfBatch_ReturnsTheWholeBatch()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build(5));
        log.Append(TestBatches.Build(5));

        var read = log.Read(7, 1 << 20, log.HighWatermark, minOneBatch: true);

        Assert.Equal([(5L, 9L)], TestBatches.Offsets(read.ReadBytes()));
    }

    [Fact]
    public void Read_StopsBeforeExceedingMaxBytes()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        var size = TestBatches.Build(2).Length;
        for (var i = 0; i < 5; i++)
        {
            log.Append(TestBatches.Build(2));
        }

        var read = log.Read(0, (size * 3) + (size / 2), log.HighWatermark, minOneBatch: true);

        Assert.Equal(size * 3, read.Length);
        Assert.Equal(3, TestBatches.Offsets(read.ReadBytes()).Count);
    }

    [Fact]
    public void Read_WithMinOneBatch_ReturnsFirstBatchEvenWhenLargerThanMaxBytes()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        var big = TestBatches.Build(10, valueSize: 500);
        log.Append(big);
        log.Append(TestBatches.Build(1));

        var withMinOne = log.Read(0, 100, log.HighWatermark, minOneBatch: true);
        var withoutMinOne = log.Read(0, 100, log.HighWatermark, minOneBatch: false);

        Assert.Equal(big.Length, withMinOne.Length);
        Assert.Equal(0, withoutMinOne.Length);
    }

    [Fact]
    public void Read_DoesNotReturnBatchesAtOrAboveTheHighWatermark()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build(2));
        log.AppendAsLeader(TestBatches.Build(2), 0); // high watermark stays at 2

        Assert.Equal(2, log.HighWatermark);
        Assert.Equal([(0L, 1L)], TestBatches.Offsets(log.Read(0, 1 << 20, log.HighWatermark, true).ReadBytes()));
        Assert.Equal(0, log.Read(2, 1 << 20, log.HighWatermark, true).Length);
        Assert.Equal([(2L, 3L)], TestBatches.Offsets(log.Read(2, 1 << 20, log.LogEndOffset, true).ReadBytes()));
    }

    [Fact]
    public void Read_OutsideLogRange_ThrowsOffsetOutOfRange_AndAtLogEndReturnsNothing()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build(3));

        var e = Assert.Throws<OffsetOutOfRangeException>(() => log.Read(4, 100, long.MaxValue, true));
        Assert.Equal(3, e.LogEndOffset);
        Assert.Throws<OffsetOutOfRangeException>(() => log.Read(-1, 100, long.MaxValue, true));
        Assert.Equal(0, log.Read(3, 100, long.MaxValue, true).Length);
    }

    [Fact]
    public async Task CopyToAsync_CopiesTheSameBytesAsCopyTo()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build(3));
        log.Append(TestBatches.Build(4));
        var read = log.Read(0, 1 << 20, log.HighWatermark, true);

        var asyncBytes = new byte[read.Length];
        await read.CopyToAsync(asyncBytes);

        Assert.Equal(read.ReadBytes(), asyncBytes);
        Assert.Single(read.Slices);
    }

    [Fact]
    public void Roll_BySize_StartsNewSegmentNamedByItsBaseOffset()
    {
        var size = TestBatches.Build(2).Length;
        var config = LogConfig.Default with { SegmentBytes = (size * 3) + 1 };
        var dir = _dir.Sub("orders-0");
        using var log = LogExtensions.OpenLog(dir, config);
        for (var i = 0; i < 7; i++)
        {
            log.Append(TestBatches.Build(2));
        }

        Assert.Equal([0L, 6L, 12L], log.SegmentBaseOffsets);
        Assert.True(File.Exists(Path.Combine(dir, "00000000000000000006.log")));
        Assert.True(File.Exists(Path.Combine(dir, "00000000000000000006.index")));
        Assert.True(File.Exists(Path.Combine(dir, "00000000000000000006.timeindex")));
        Assert.Equal(size * 3, new FileInfo(Path.Combine(dir, "00000000000000000000.log")).Length);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => ((long)i * 2, ((long)i * 2) + 1)), log.ReadAllOffsets(0));
    }

    [Fact]
    public void Read_AtTheEndOfASegment_ContinuesInTheNextOne()
    {
        var size = TestBatches.Build(2).Length;
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), LogConfig.Default with { SegmentBytes = size });
        log.Append(TestBatches.Build(2));
        log.Append(TestBatches.Build(2));

        Assert.Equal(2, log.SegmentCount);
        Assert.Equal([(2L, 3L)], TestBatches.Offsets(log.Read(2, 1 << 20, log.HighWatermark, true).ReadBytes()));
    }

    [Fact]
    public void Roll_ByAge_StartsNewSegmentAfterSegmentMs()
    {
        var time = new ManualTimeProvider();
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), LogConfig.Default with { SegmentMs = 1000 }, time);
        log.Append(TestBatches.Build(1));
        time.Advance(1000);
        log.Append(TestBatches.Build(1));
        Assert.Equal(1, log.SegmentCount);

        time.Advance(1);
        log.Append(TestBatches.Build(1));

        Assert.Equal([0L, 2L], log.SegmentBaseOffsets);
    }

    [Fact]
    public void Roll_WhenOffsetIndexIsFull()
    {
        var config = LogConfig.Default with { IndexIntervalBytes = 0, SegmentIndexBytes = 8 * 3 };
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), config);
        for (var i = 0; i < 10; i++)
        {
            log.Append(TestBatches.Build(1));
        }

        Assert.True(log.SegmentCount > 1);
        Assert.Equal(10, log.ReadAllOffsets(0).Count);
    }

    [Fact]
    public void AppendAsFollower_KeepsOffsetsAndEpochs_AndRejectsGoingBackwards()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        var batch = TestBatches.Build([1, 2, 3], baseOffset: 10, leaderEpoch: 4);

        var info = log.AppendAsFollower(batch);

        Assert.Equal(10, info.FirstOffset);
        Assert.Equal(13, log.LogEndOffset);
        Assert.Equal([new EpochEntry(4, 10)], log.LeaderEpochs);
        Assert.Throws<ArgumentException>(() => log.AppendAsFollower(TestBatches.Build([1], baseOffset: 12)));
        log.HighWatermark = 13;
        Assert.Equal([(10L, 12L)], TestBatches.Offsets(log.Read(10, 1 << 20, 13, true).ReadBytes()));
    }

    [Fact]
    public void TruncateTo_RemovesTheBatchContainingTheOffsetAndEverythingAfter()
    {
        var size = TestBatches.Build(2).Length;
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), LogConfig.Default with { SegmentBytes = size * 2 });
        for (var i = 0; i < 6; i++)
        {
            log.Append(TestBatches.Build(2), epoch: i);
        }

        log.TruncateTo(5);

        Assert.Equal(4, log.LogEndOffset);
        Assert.Equal(4, log.HighWatermark);
        Assert.Equal([0L, 4L], log.SegmentBaseOffsets);
        Assert.Equal([(0L, 1L), (2L, 3L)], log.ReadAllOffsets(0));
        Assert.Equal(1, log.LatestEpoch);
        var next = log.Append(TestBatches.Build(1));
        Assert.Equal(4, next.FirstOffset);
    }

    [Fact]
    public void EndOffsetForEpoch_ReturnsStartOfNextEpochOrLogEnd()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build(2), epoch: 1);
        log.Append(TestBatches.Build(2), epoch: 3);

        Assert.Equal((1, 2L), log.EndOffsetForEpoch(1));
        Assert.Equal((1, 2L), log.EndOffsetForEpoch(2));
        Assert.Equal((3, 4L), log.EndOffsetForEpoch(3));
        Assert.Equal((0, 0L), log.EndOffsetForEpoch(0));
        Assert.Equal((-1, -1L), log.EndOffsetForEpoch(4));
    }

    [Fact]
    public void AnEpochBegunAtTheLogEnd_AnswersForEarlierEpochs_AndGoesWithATruncationToTheLogEnd()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build(2), epoch: 4);

        // Elected at epoch 6 and not yet written to: epoch 4 now ends at the log end.
        log.BeginLeaderEpoch(6);
        Assert.Equal(6, log.LatestEpoch);
        Assert.Equal((4, 2L), log.EndOffsetForEpoch(5));
        log.BeginLeaderEpoch(5);
        Assert.Equal(6, log.LatestEpoch);

        // Then a follower again: cut at its log end, no record goes but the empty epoch does.
        log.TruncateTo(2);
        Assert.Equal(2, log.LogEndOffset);
        Assert.Equal(4, log.LatestEpoch);
    }

    [Fact]
    public void AnEpochBegunAtTheLogEnd_IsWrittenToTheCheckpointOnlyOnceItHoldsARecord()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"));
        log.Append(TestBatches.Build(2), epoch: 4);
        log.Flush();
        var file = Path.Combine(log.Directory, "leader-epoch-checkpoint");

        // No fsync for an empty epoch: a broker elected for thousands of partitions would write thousands of files.
        log.BeginLeaderEpoch(6);
        log.Flush();
        Assert.DoesNotContain("6 2", File.ReadAllLines(file));

        log.Append(TestBatches.Build(1), epoch: 6);
        log.Flush();
        Assert.Contains("6 2", File.ReadAllLines(file));
    }

    [Fact]
    public void LeaderEpochCheckpoint_IsWrittenInKafkaTextFormat_WhenTheLogIsFlushed()
    {
        var dir = _dir.Sub("orders-0");
        var path = Path.Combine(dir, "leader-epoch-checkpoint");
        using var log = LogExtensions.OpenLog(dir);
        log.Append(TestBatches.Build(2), epoch: 0);
        log.Append(TestBatches.Build(2), epoch: 2);
        Assert.False(File.Exists(path)); // a new epoch costs no fsync on the append path

        log.Flush();

        Assert.Equal("0\n2\n0 0\n2 2\n", File.ReadAllText(path));
    }

    [Fact]
    public void OffsetIndexEntries_AreBigEndianRelativeOffsetAndPosition()
    {
        var dir = _dir.Sub("orders-0");
        var size = TestBatches.Build(1).Length;
        using (var log = LogExtensions.OpenLog(dir, LogConfig.Default with { IndexIntervalBytes = 0 }))
        {
            for (var i = 0; i < 3; i++)
            {
                log.Append(TestBatches.Build(1, timestamp: 100 + i));
            }
        }

        var index = File.ReadAllBytes(Path.Combine(dir, "00000000000000000000.index"));
        // Kafka indexes a batch once more than index.interval.bytes were written since the last entry.
        Assert.Equal(16, index.Length);
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(index));
        Assert.Equal(size, BinaryPrimitives.ReadInt32BigEndian(index.AsSpan(4)));
        Assert.Equal(2, BinaryPrimitives.ReadInt32BigEndian(index.AsSpan(8)));
        Assert.Equal(size * 2, BinaryPrimitives.ReadInt32BigEndian(index.AsSpan(12)));
        var timeIndex = File.ReadAllBytes(Path.Combine(dir, "00000000000000000000.timeindex"));
        Assert.Equal(0, timeIndex.Length % 12);
        Assert.Equal(102, BinaryPrimitives.ReadInt64BigEndian(timeIndex.AsSpan(timeIndex.Length - 12)));
        Assert.Equal(2, BinaryPrimitives.ReadInt32BigEndian(timeIndex.AsSpan(timeIndex.Length - 4)));
    }
}
