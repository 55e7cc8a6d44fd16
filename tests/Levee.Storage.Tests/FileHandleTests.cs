using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Levee.Storage.Tests;

/// <summary>Runs alone: it counts the process's open descriptors, which other tests would disturb.</summary>
[CollectionDefinition(nameof(DescriptorCountCollection), DisableParallelization = true)]
public sealed class DescriptorCountCollection;

[Collection(nameof(DescriptorCountCollection))]
public sealed class FileHandleTests(ITestOutputHelper output) : IDisposable
{
    private static readonly int BatchSize = TestBatches.Build(2).Length;

    /// <summary>Two batches per segment: three appends make one rolled segment and an active one.</summary>
    private static readonly LogConfig SmallSegments = LogConfig.Default with
    {
        SegmentBytes = BatchSize * 2,
        IndexIntervalBytes = 0,
        FileDeleteDelayMs = 0,
    };

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    private LogManager OpenManager(string? directory = null, int maxOpenSegmentFiles = 1_000) =>
        LogManager.Open(
            new LogManagerOptions
            {
                DataDirectory = directory ?? _dir.Path,
                ClusterId = "test-cluster",
                DefaultConfig = SmallSegments,
                MaxOpenSegmentFiles = maxOpenSegmentFiles,
            },
            NullLoggerFactory.Instance,
            new ManualTimeProvider());

    private static void AppendThree(PartitionLog log)
    {
        for (var i = 0; i < 3; i++)
        {
            log.Append(TestBatches.Build(2, timestamp: 1_000 + i));
        }
    }

    private static readonly List<(long, long)> ThreeBatches = [(0, 1), (2, 3), (4, 5)];

    [Fact]
    public async Task ThousandsOfPartitions_HoldNoMoreDescriptorsThanTheCacheBound()
    {
        if (!Directory.Exists("/proc/self/fd"))
        {
            return; // Linux only
        }

        const int partitions = 3_000;
        const int bound = 50;
        var before = OpenDescriptors();
        await using var manager = OpenManager(maxOpenSegmentFiles: bound);
        var logs = new List<PartitionLog>(partitions);
        for (var p = 0; p < partitions; p++)
        {
            var log = manager.GetOrCreate(new TopicPartition("many", p));
            AppendThree(log);
            logs.Add(log);
        }

        // The background flushes started by the rolls take a handle for a moment: let them finish.
        foreach (var log in logs)
        {
            log.Flush();
        }

        var after = OpenDescriptors();
        output.WriteLine($"{partitions} partitions, cache bound {bound}: {after - before} more descriptors (before {before}, after {after}), {manager.OpenSegmentFiles} segment handles cached");
        Assert.All(logs, log => Assert.Equal(2, log.SegmentCount));
        Assert.True(manager.OpenSegmentFiles <= bound, $"{manager.OpenSegmentFiles} segment handles open");
        Assert.True(after - before <= bound + 64, $"{after - before} descriptors for {partitions} partitions (before {before}, after {after})");

        // Most segments were evicted long ago; reads and appends reopen them and see the right batches.
        foreach (var p in (int[])[0, 1, 1_234, 2_999])
        {
            Assert.Equal(ThreeBatches, logs[p].ReadAllOffsets(0));
            Assert.Equal(6, logs[p].Append(TestBatches.Build(2)).FirstOffset);
            Assert.Equal([.. ThreeBatches, (6, 7)], logs[p].ReadAllOffsets(0));
        }

        Assert.True(manager.OpenSegmentFiles <= bound);
    }

    [Fact]
    public async Task ReadResult_OfAnEvictedSegment_StillCopiesTheRightBytes()
    {
        await using var manager = OpenManager(maxOpenSegmentFiles: 1);
        var a = manager.GetOrCreate(new TopicPartition("evict", 0));
        var b = manager.GetOrCreate(new TopicPartition("evict", 1));
        AppendThree(a);
        AppendThree(b);

        var fromA = a.Read(0, BatchSize, a.HighWatermark, minOneBatch: true);
        var fromB = b.Read(2, BatchSize, b.HighWatermark, minOneBatch: true); // evicts a's rolled segment

        Assert.Equal([(0L, 1L)], TestBatches.Offsets(fromA.ReadBytes()));
        Assert.Equal([(2L, 3L)], TestBatches.Offsets(fromB.ReadBytes()));
        var copy = new byte[fromA.Length];
        await fromA.CopyToAsync(copy);
        Assert.Equal([(0L, 1L)], TestBatches.Offsets(copy));
        Assert.Equal(1, manager.OpenSegmentFiles);
    }

    [Fact]
    public async Task FileRecords_KeepTheirSegmentReadableThroughEvictionAndDeletion_AndCloseItOnceReleased()
    {
        if (!Directory.Exists("/proc/self/fd"))
        {
            return; // Linux only
        }

        await using var manager = OpenManager(maxOpenSegmentFiles: 1);
        var a = manager.GetOrCreate(new TopicPartition("held", 0));
        var b = manager.GetOrCreate(new TopicPartition("held", 1));
        AppendThree(a);
        AppendThree(b);
        var segmentPath = Path.Combine(_dir.Path, a.TopicPartition.DirectoryName, LogSegment.FileStem(0) + LogSegment.LogSuffix);

        var records = a.ReadRecords(0, BatchSize, a.HighWatermark, minOneBatch: true);
        Assert.NotNull(records);
        Assert.Equal(BatchSize, records.Length);
        _ = b.Read(2, BatchSize, b.HighWatermark, minOneBatch: true); // the cache evicts a's rolled segment
        Assert.Equal(4, a.DeleteRecordsBefore(4)); // and the segment (offsets 0-3) is deleted (file.delete.delay.ms = 0)
        Assert.False(File.Exists(segmentPath));
        Assert.Single(DescriptorsOf(segmentPath));

        // Still the bytes of the read, through the descriptor the read scanned with.
        var bytes = new byte[records.Length];
        records.CopyTo(0, bytes);
        Assert.Equal([(0L, 1L)], TestBatches.Offsets(bytes));

        ((IDisposable)records).Dispose();
        Assert.Empty(DescriptorsOf(segmentPath));
        Assert.Null(a.ReadRecords(6, BatchSize, a.HighWatermark, minOneBatch: true));
    }

    /// <summary>This process's open descriptors on <paramref name="path"/> (or on its <c>.deleted</c> rename).</summary>
    private static List<string> DescriptorsOf(string path) =>
        [.. Directory.GetFileSystemEntries("/proc/self/fd")
            .Select(fd =>
            {
                try
                {
                    return new FileInfo(fd).LinkTarget;
                }
                catch (IOException)
                {
                    return null; // closed meanwhile
                }
            })
            .OfType<string>()
            .Where(target => target.StartsWith(path, StringComparison.Ordinal))];

    [Fact]
    public async Task ConcurrentReads_ThroughATinyCache_AlwaysSeeTheirBatches()
    {
        await using var manager = OpenManager(maxOpenSegmentFiles: 2);
        var logs = Enumerable.Range(0, 16).Select(p => manager.GetOrCreate(new TopicPartition("race", p))).ToList();
        foreach (var log in logs)
        {
            AppendThree(log);
        }

        var failures = 0;
        Parallel.For(0, 4, worker =>
        {
            var random = new Random(worker);
            for (var i = 0; i < 2_000; i++)
            {
                var log = logs[random.Next(logs.Count)];
                var offset = random.Next(2) * 2L;
                var read = log.Read(offset, BatchSize, log.HighWatermark, minOneBatch: true);
                if (TestBatches.Offsets(read.ReadBytes()) is not [var batch] || batch != (offset, offset + 1))
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        Assert.Equal(0, failures);
        Assert.True(manager.OpenSegmentFiles <= 2);
    }

    [Fact]
    public void Append_DoesNotWriteTheIndex_UntilFlushRollOrClose()
    {
        var dir = _dir.Sub("orders-0");
        var indexPath = Path.Combine(dir, LogSegment.FileStem(0) + LogSegment.IndexSuffix);
        var config = LogConfig.Default with { IndexIntervalBytes = 0, FileDeleteDelayMs = 0 };
        using var log = LogExtensions.OpenLog(dir, config);
        for (var i = 0; i < 4; i++)
        {
            log.Append(TestBatches.Build(2, timestamp: 1_000 + i));
        }

        Assert.False(File.Exists(indexPath) && new FileInfo(indexPath).Length > 0);
        log.Flush();
        Assert.Equal(3 * 8, new FileInfo(indexPath).Length);
    }

    [Fact]
    public async Task CleanReopen_WithLaggingIndexFiles_ExtendsThemAndKeepsEverything()
    {
        var tp = new TopicPartition("lag", 0);
        var config = SmallSegments with { SegmentBytes = BatchSize * 4 };
        await using (var manager = OpenManager())
        {
            var log = manager.GetOrCreate(tp, config);
            for (var i = 0; i < 7; i++)
            {
                log.Append(TestBatches.Build(2, timestamp: 1_000 + i));
            }
        }

        // Cut every index file back (one entry, and a torn half entry), as a crash before the write would leave them.
        var dir = Path.Combine(_dir.Path, tp.DirectoryName);
        foreach (var baseOffset in (long[])[0, 8])
        {
            CutTo(Path.Combine(dir, LogSegment.FileStem(baseOffset) + LogSegment.IndexSuffix), 8 + 4);
            CutTo(Path.Combine(dir, LogSegment.FileStem(baseOffset) + LogSegment.TimeIndexSuffix), 12);
        }

        await using (var manager = OpenManager())
        {
            Assert.True(manager.HadCleanShutdown);
            Assert.True(manager.TryGet(tp, out var log));
            Assert.Equal(14, log.LogEndOffset);
            Assert.Equal(Enumerable.Range(0, 7).Select(i => ((long)i * 2, ((long)i * 2) + 1)), log.ReadAllOffsets(0));
            Assert.Equal([(6L, 7L)], TestBatches.Offsets(log.Read(7, 1, log.HighWatermark, true).ReadBytes()));
            Assert.Equal(new TimestampAndOffset(6, 1003, 0), log.OffsetForTimestamp(1003));
            Assert.Equal(new TimestampAndOffset(12, 1006, 0), log.OffsetForTimestamp(1006));
            Assert.Equal(14, log.Append(TestBatches.Build(1)).FirstOffset);
        }

        // The close wrote the extended indexes back: one entry per batch after the first.
        Assert.Equal(3 * 8, new FileInfo(Path.Combine(dir, LogSegment.FileStem(0) + LogSegment.IndexSuffix)).Length);
    }

    [Fact]
    public async Task UncleanReopen_WithIndexesNeverWritten_RecoversEverything()
    {
        var tp = new TopicPartition("crash", 0);
        var copy = _dir.Sub("copy");
        await using (var manager = OpenManager(_dir.Sub("live")))
        {
            var log = manager.GetOrCreate(tp, SmallSegments with { SegmentBytes = BatchSize * 4 });
            for (var i = 0; i < 7; i++)
            {
                log.Append(TestBatches.Build(2, timestamp: 1_000 + i));
            }

            // A kill -9 now: what is on disk is what the page cache has, no clean-shutdown marker, and the active
            // segment's indexes were never written.
            CrashCopy.Directory(_dir.Sub("live"), copy);
        }

        var activeIndex = Path.Combine(copy, tp.DirectoryName, LogSegment.FileStem(8) + LogSegment.IndexSuffix);
        Assert.False(File.Exists(activeIndex) && new FileInfo(activeIndex).Length > 0);

        await using var recovered = OpenManager(copy);
        Assert.False(recovered.HadCleanShutdown);
        Assert.True(recovered.TryGet(tp, out var reopened));
        Assert.Equal(14, reopened.LogEndOffset);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => ((long)i * 2, ((long)i * 2) + 1)), reopened.ReadAllOffsets(0));
        Assert.Equal([(12L, 13L)], TestBatches.Offsets(reopened.Read(13, 1, reopened.HighWatermark, true).ReadBytes()));
        Assert.Equal(new TimestampAndOffset(10, 1005, 0), reopened.OffsetForTimestamp(1005));
    }

    [Theory]
    [InlineData("            20000                20000                files", 20_000)]
    [InlineData("            unlimited            unlimited            files", int.MaxValue)]
    [InlineData("            garbage              1                    files", 8_192)]
    public void OpenFileLimit_ReadsTheSoftLimit(string fields, long expected) => Assert.Equal(expected, OpenFileLimit.Parse(fields));

    private static void CutTo(string path, long length)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        Assert.True(RandomAccess.GetLength(file) > length);
        RandomAccess.SetLength(file, length);
    }
}
