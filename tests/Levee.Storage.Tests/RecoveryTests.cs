using Levee.Protocol.Records;

namespace Levee.Storage.Tests;

public sealed class RecoveryTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string LogDir => _dir.Sub("orders-0");

    private string SegmentFile(long baseOffset, string suffix = ".log") => Path.Combine(LogDir, baseOffset.ToString("D20") + suffix);

    /// <summary>Writes <paramref name="batches"/> batches of 2 records, closes without any clean-shutdown bookkeeping.</summary>
    private void WriteBatches(int batches, LogConfig? config = null)
    {
        using var log = LogExtensions.OpenLog(LogDir, config);
        for (var i = 0; i < batches; i++)
        {
            log.Append(TestBatches.Build(2, timestamp: 1000 + i));
        }
    }

    [Fact]
    public void Reopen_AfterCleanClose_KeepsEverything()
    {
        var size = TestBatches.Build(2).Length;
        var config = LogConfig.Default with { SegmentBytes = size * 3, IndexIntervalBytes = 0, FileDeleteDelayMs = 0 };
        WriteBatches(8, config);

        using var log = LogExtensions.OpenLog(LogDir, config, clean: true);

        Assert.Equal(16, log.LogEndOffset);
        Assert.Equal(16, log.HighWatermark);
        Assert.Equal(3, log.SegmentCount);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => ((long)i * 2, ((long)i * 2) + 1)), log.ReadAllOffsets(0));
        Assert.Equal(new TimestampAndOffset(14, 1007, 0), log.OffsetForTimestamp(1007));
        Assert.Equal(16, log.Append(TestBatches.Build(1)).FirstOffset);
    }

    [Fact]
    public void Reopen_AfterCleanClose_WithMissingIndex_RebuildsIt()
    {
        var config = LogConfig.Default with { IndexIntervalBytes = 0, FileDeleteDelayMs = 0 };
        WriteBatches(5, config);
        var indexLength = new FileInfo(SegmentFile(0, ".index")).Length;
        File.Delete(SegmentFile(0, ".index"));

        using var log = LogExtensions.OpenLog(LogDir, config, clean: true);

        Assert.Equal(10, log.LogEndOffset);
        Assert.Equal(indexLength, new FileInfo(SegmentFile(0, ".index")).Length);
        Assert.Equal([(6L, 7L)], TestBatches.Offsets(log.Read(7, 1, log.HighWatermark, true).ReadBytes()));
    }

    [Fact]
    public void Recovery_AfterTornWrite_TruncatesTailAndKeepsEarlierBatches()
    {
        WriteBatches(4);
        var size = TestBatches.Build(2).Length;
        using (var file = new FileStream(SegmentFile(0), FileMode.Open))
        {
            file.SetLength((size * 3) + 20); // the fourth batch was cut mid-write
        }

        using var log = LogExtensions.OpenLog(LogDir, clean: false);

        Assert.Equal(6, log.LogEndOffset);
        Assert.Equal(size * 3, new FileInfo(SegmentFile(0)).Length);
        Assert.Equal([(0L, 1L), (2L, 3L), (4L, 5L)], log.ReadAllOffsets(0));
        Assert.Equal(6, log.Append(TestBatches.Build(2)).FirstOffset);
        Assert.Equal(4, log.ReadAllOffsets(0).Count);
    }

    [Fact]
    public void Recovery_WithGarbageAppended_TruncatesTheGarbage()
    {
        WriteBatches(3);
        var size = TestBatches.Build(2).Length;
        using (var file = new FileStream(SegmentFile(0), FileMode.Append))
        {
            file.Write(new byte[100].Select((_, i) => (byte)(i * 7)).ToArray());
        }

        using var log = LogExtensions.OpenLog(LogDir, clean: false);

        Assert.Equal(6, log.LogEndOffset);
        Assert.Equal(size * 3, new FileInfo(SegmentFile(0)).Length);
    }

    [Fact]
    public void Recovery_WithFlippedByte_TruncatesAtTheCorruptBatchAndDeletesLaterSegments()
    {
        var size = TestBatches.Build(2).Length;
        var config = LogConfig.Default with { SegmentBytes = size * 3, IndexIntervalBytes = 0, FileDeleteDelayMs = 0 };
        WriteBatches(8, config); // segments 0 (3 batches), 6 (3 batches), 12 (2 batches)
        var bytes = File.ReadAllBytes(SegmentFile(6));
        bytes[size + RecordBatchHeader.Size + 3] ^= 0x40; // inside the records of the second batch of segment 6
        File.WriteAllBytes(SegmentFile(6), bytes);

        using var log = LogExtensions.OpenLog(LogDir, config, recoveryPoint: 6, clean: false);

        Assert.Equal(8, log.LogEndOffset);
        Assert.Equal([0L, 6L], log.SegmentBaseOffsets);
        Assert.False(File.Exists(SegmentFile(12)));
        Assert.Equal(size, new FileInfo(SegmentFile(6)).Length);
        Assert.Equal(8, log.RecoveryPoint);
        Assert.Equal([(0L, 1L), (2L, 3L), (4L, 5L), (6L, 7L)], log.ReadAllOffsets(0));
        Assert.Equal(8, log.Append(TestBatches.Build(2)).FirstOffset);
    }

    [Fact]
    public void Recovery_RebuildsIndexesOfRecoveredSegments()
    {
        var config = LogConfig.Default with { IndexIntervalBytes = 0, FileDeleteDelayMs = 0 };
        WriteBatches(6, config);
        var expectedIndex = File.ReadAllBytes(SegmentFile(0, ".index"));
        File.WriteAllBytes(SegmentFile(0, ".index"), new byte[13]); // garbage: wrong size, wrong content

        using var log = LogExtensions.OpenLog(LogDir, config, clean: false);

        Assert.Equal(expectedIndex, File.ReadAllBytes(SegmentFile(0, ".index")));
        Assert.Equal([(8L, 9L)], TestBatches.Offsets(log.Read(9, 1, log.HighWatermark, true).ReadBytes()));
    }

    [Fact]
    public void Recovery_OfAnEmptyDirectory_StartsAtLogStartOffset()
    {
        using var log = LogExtensions.OpenLog(LogDir, clean: false, logStartOffset: 42);

        Assert.Equal(42, log.LogStartOffset);
        Assert.Equal(42, log.LogEndOffset);
        Assert.Equal(42, log.Append(TestBatches.Build(1)).FirstOffset);
        Assert.True(File.Exists(SegmentFile(42)));
    }

    [Fact]
    public void Recovery_AfterACrash_RestoresEpochsTheCheckpointFileLacks()
    {
        var crashed = _dir.Sub("crashed-0");
        using (var log = LogExtensions.OpenLog(LogDir))
        {
            log.Append(TestBatches.Build(2), epoch: 0);
            log.Flush(); // the checkpoint file holds epoch 0; the recovery point is 2
            log.Append(TestBatches.Build(2), epoch: 3);
            log.Append(TestBatches.Build(2), epoch: 5);
            Assert.Equal("0\n1\n0 0\n", File.ReadAllText(Path.Combine(LogDir, "leader-epoch-checkpoint")));

            CrashCopy.Directory(LogDir, crashed); // what kill -9 leaves: no close
        }

        using var recovered = LogExtensions.OpenLog(crashed, recoveryPoint: 2, clean: false);

        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(3, 2), new EpochEntry(5, 4)], recovered.LeaderEpochs);
        Assert.Equal((3, 4L), recovered.EndOffsetForEpoch(3));
        Assert.Equal("0\n3\n0 0\n3 2\n5 4\n", File.ReadAllText(Path.Combine(crashed, "leader-epoch-checkpoint")));
    }

    [Fact]
    public void Flush_ThatCannotWriteTheEpochs_KeepsTheRecoveryPoint_AndWritesThemNextTime()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TestBatches.Build(2), epoch: 4);
        var blocker = Path.Combine(LogDir, "leader-epoch-checkpoint.tmp");
        Directory.CreateDirectory(blocker); // the temporary file cannot be created: as a full disk would fail it

        Assert.ThrowsAny<Exception>(log.Flush);
        Assert.Equal(0, log.RecoveryPoint);

        Directory.Delete(blocker);
        log.Flush();

        Assert.Equal(2, log.RecoveryPoint);
        Assert.Equal("0\n1\n4 0\n", File.ReadAllText(Path.Combine(LogDir, "leader-epoch-checkpoint")));
    }

    [Fact]
    public void Open_RemovesLeftoverDeletedFiles()
    {
        WriteBatches(1);
        File.WriteAllText(Path.Combine(LogDir, "00000000000000000099.log.deleted"), "x");

        using var log = LogExtensions.OpenLog(LogDir);

        Assert.False(File.Exists(Path.Combine(LogDir, "00000000000000000099.log.deleted")));
    }
}
