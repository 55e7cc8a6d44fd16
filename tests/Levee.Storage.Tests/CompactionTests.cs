using System.Text;
using CsCheck;
using Levee.Protocol.Records;
using Microsoft.Extensions.Logging.Abstractions;

namespace Levee.Storage.Tests;

public sealed class CompactionTests : IDisposable
{
    private const long RetentionMs = 60_000;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static LogConfig Compacted(int segmentBytes = 600) => LogConfig.Default with
    {
        Compact = true,
        Delete = false,
        SegmentBytes = segmentBytes,
        IndexIntervalBytes = 0,
        FileDeleteDelayMs = 0,
        MinCleanableDirtyRatio = 0,
        DeleteRetentionMs = RetentionMs,
    };

    private static CleanerStats? Clean(PartitionLog log, long nowMs, long dedupeBytes = 1 << 20)
    {
        using var resources = new CleanerResources(dedupeBytes, 0.9, new CleanerThrottler(double.MaxValue, TimeProvider.System));
        return log.Clean(nowMs, resources, CancellationToken.None);
    }

    /// <summary>Appends one batch of (key, value) records; a null value is a tombstone.</summary>
    private static void Write(PartitionLog log, IEnumerable<(int Key, string? Value)> records, long timestamp = 1_000, long producerId = -1, int baseSequence = -1)
    {
        var data = records.Select(r => new RecordData(Encoding.UTF8.GetBytes($"k{r.Key}"), r.Value is null ? (ReadOnlyMemory<byte>?)null : Encoding.UTF8.GetBytes(r.Value), timestamp)).ToArray();
        log.Append(RecordBatchBuilder.BuildToArray(new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = (short)(producerId < 0 ? -1 : 0), BaseSequence = baseSequence }, data));
    }

    /// <summary>Every record (offset, key, value) and every batch header's (base, last, count, producer, CRC valid) up to the high watermark.</summary>
    private static (List<(long Offset, string Key, string? Value, long Timestamp)> Records, List<(long Base, long Last, int Count, long ProducerId, int BaseSequence, bool CrcValid)> Batches) ReadAll(PartitionLog log)
    {
        var records = new List<(long, string, string?, long)>();
        var batches = new List<(long, long, int, long, int, bool)>();
        var offset = log.LogStartOffset;
        while (offset < log.HighWatermark)
        {
            var bytes = log.Read(offset, int.MaxValue, log.HighWatermark, minOneBatch: true).ReadBytes();
            if (bytes.Length == 0)
            {
                break;
            }

            var at = 0;
            while (at < bytes.Length)
            {
                var header = new RecordBatchHeader(bytes.AsSpan(at));
                var batch = bytes.AsSpan(at, header.TotalSize);
                batches.Add((header.BaseOffset, header.LastOffset, header.RecordCount, header.ProducerId, header.BaseSequence, RecordBatchHeader.IsCrcValid(batch)));
                using var reader = new RecordReader(batch);
                while (reader.TryReadNext(out var r))
                {
                    records.Add((r.Offset, Encoding.UTF8.GetString(r.Key), r.ValueIsNull ? null : Encoding.UTF8.GetString(r.Value), r.Timestamp));
                }

                offset = header.LastOffset + 1;
                at += header.TotalSize;
            }
        }

        return (records, batches);
    }

    /// <summary>What a consumer replaying the log ends with: the last value of each key, tombstones deleting.</summary>
    private static Dictionary<string, string> Replay(IEnumerable<(long Offset, string Key, string? Value, long Timestamp)> records)
    {
        var state = new Dictionary<string, string>();
        foreach (var (_, key, value, _) in records)
        {
            if (value is null)
            {
                state.Remove(key);
            }
            else
            {
                state[key] = value;
            }
        }

        return state;
    }

    [Fact]
    public void Clean_RandomHistories_KeepsExactlyTheLatestRecordOfEachKeyAtItsOffset()
    {
        var history = Gen.Select(Gen.Int[0, 15], Gen.Int[0, 9]).Array[1, 8].Array[5, 60];
        history.Sample(
            batches =>
            {
                using var dir = new TempDir();
                using var log = LogExtensions.OpenLog(dir.Sub("orders-0"), Compacted());
                var n = 0;
                foreach (var batch in batches)
                {
                    // A value digit 0 is a tombstone.
                    Write(log, batch.Select(r => (r.Item1, r.Item2 == 0 ? null : $"v{n++}")));
                }

                var before = ReadAll(log).Records;
                Clean(log, 1_000_000);
                var after = ReadAll(log).Records;

                // Offsets and contents preserved: the cleaned log is a subsequence of the history.
                var original = before.ToDictionary(r => r.Offset);
                Assert.All(after, r => Assert.Equal(original[r.Offset], r));
                Assert.True(after.Select(r => r.Offset).SequenceEqual(after.Select(r => r.Offset).Order()));

                // Below the cleaner's position (the active segment is never cleaned) each key appears once: its latest
                // record there (tombstones kept, within delete.retention.ms); and the latest of every key is still there.
                var firstDirty = log.FirstDirtyOffset;
                var cleaned = before.Where(r => r.Offset < firstDirty).GroupBy(r => r.Key).ToDictionary(g => g.Key, g => g.Last().Offset);
                Assert.All(after.Where(r => r.Offset < firstDirty), r => Assert.Equal(cleaned[r.Key], r.Offset));
                Assert.All(before.GroupBy(r => r.Key), g => Assert.Contains(after, r => r.Offset == g.Last().Offset));
                Assert.Equal(Replay(before), Replay(after));
                return true;
            },
            iter: 60);
    }

    [Fact]
    public void Clean_RemovesTombstonesOnlyAfterDeleteRetentionFromTheirFirstCleaning()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), Compacted());
        Write(log, [(1, "a"), (2, "b")]);
        Write(log, [(1, null)]);
        FillUntilRolled(log, 3);

        var t0 = 5_000_000L;
        Clean(log, t0);
        Assert.Contains(ReadAll(log).Records, r => r is { Key: "k1", Value: null });
        Assert.DoesNotContain(ReadAll(log).Records, r => r is { Key: "k1", Value: "a" });

        FillUntilRolled(log, 4);
        Clean(log, t0 + RetentionMs - 1);
        Assert.Contains(ReadAll(log).Records, r => r is { Key: "k1", Value: null });

        FillUntilRolled(log, 5);
        Clean(log, t0 + RetentionMs);
        var records = ReadAll(log).Records;
        Assert.DoesNotContain(records, r => r.Key == "k1");
        Assert.Contains(records, r => r is { Key: "k2", Value: "b" });
    }

    [Fact]
    public void Clean_KeepsTheLastBatchOfAnIdempotentProducerEmptyWithItsSequence()
    {
        var dir = _dir.Sub("orders-0");
        using (var log = LogExtensions.OpenLog(dir, Compacted()))
        {
            // Stamped at the log's clock, so the producer is not expired when its state is rebuilt.
            var now = new ManualTimeProvider().NowMs;
            Write(log, [(1, "p0"), (2, "p1")], now, producerId: 7, baseSequence: 0);
            Write(log, [(1, "p2"), (2, "p3")], now, producerId: 7, baseSequence: 2);
            Write(log, [(1, "x"), (2, "y")]);
            FillUntilRolled(log, 3);

            Clean(log, 1_000_000);

            var batches = ReadAll(log).Batches;
            Assert.DoesNotContain(batches, b => b.ProducerId == 7 && b.BaseSequence == 0);
            var empty = Assert.Single(batches, b => b.ProducerId == 7);
            Assert.Equal((2L, 3L, 0, 2, true), (empty.Base, empty.Last, empty.Count, empty.BaseSequence, empty.CrcValid));
        }

        // Rebuilt from the log alone (no snapshot), the producer's state still ends at sequence 3, offset 3.
        foreach (var snapshot in Directory.EnumerateFiles(dir, "*.snapshot"))
        {
            File.Delete(snapshot);
        }

        using var reopened = LogExtensions.OpenLog(dir, Compacted(), clean: false);
        var producer = Assert.Single(reopened.ActiveProducers(), p => p.ProducerId == 7);
        Assert.Equal((3, 3L), (producer.LastSequence, producer.LastOffset));
    }

    [Fact]
    public void Clean_PreservesRecordTimestampsAndCompressedBatchesStayReadable()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), Compacted());
        var data = new[] { new RecordData("k1"u8.ToArray(), "old"u8.ToArray(), 1_000), new RecordData("k2"u8.ToArray(), null, 1_500), new RecordData("k1"u8.ToArray(), "new"u8.ToArray(), 2_000) };
        log.Append(RecordBatchBuilder.BuildToArray(new RecordBatchOptions { Compression = CompressionType.Lz4 }, data));
        FillUntilRolled(log, 3);

        Clean(log, 1_000_000);

        var records = ReadAll(log).Records.Where(r => r.Key is "k1" or "k2").ToList();
        Assert.Equal([(1L, "k2", (string?)null, 1_500L), (2L, "k1", "new", 2_000L)], records);
    }

    [Fact]
    public void Clean_HonoursMinCompactionLag()
    {
        var time = new ManualTimeProvider(10_000_000);
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), Compacted() with { MinCompactionLagMs = 100_000 }, time);
        Write(log, [(1, "a")], timestamp: time.NowMs);
        Write(log, [(1, "b")], timestamp: time.NowMs);
        FillUntilRolled(log, 3, time.NowMs);

        Assert.Null(Clean(log, time.NowMs + 99_999));
        Assert.Contains(ReadAll(log).Records, r => r.Value == "a");

        Assert.NotNull(Clean(log, time.NowMs + 100_001));
        Assert.DoesNotContain(ReadAll(log).Records, r => r.Value == "a");
    }

    [Fact]
    public void FindCleanable_BelowTheDirtyRatio_IsNotTakenByTheCleaner_UnlessMaxCompactionLagIsDue()
    {
        var time = new ManualTimeProvider(10_000_000);
        var config = Compacted() with { MinCleanableDirtyRatio = 0.99, MaxCompactionLagMs = 50_000 };
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), config, time);
        for (var i = 0; i < 6; i++)
        {
            FillUntilRolled(log, 10 + i, time.NowMs);
        }

        Clean(log, time.NowMs);
        FillUntilRolled(log, 30, time.NowMs);
        var cleanable = log.FindCleanable(time.NowMs)!;
        Assert.InRange(cleanable.DirtyRatio, 0.01, 0.98);
        Assert.False(cleanable.MaxCompactionLagDue);

        using var resources = new CleanerResources(1 << 20, 0.9, new CleanerThrottler(double.MaxValue, time));
        using var cleaner = new LogCleaner(() => [log], new LogManagerOptions { DataDirectory = _dir.Path }, time, NullLogger.Instance);
        Assert.False(cleaner.CleanOne(resources, CancellationToken.None));
        time.Advance(50_001);
        Assert.True(log.FindCleanable(time.NowMs)!.MaxCompactionLagDue);
        Assert.True(cleaner.CleanOne(resources, CancellationToken.None));
        Assert.Null(log.FindCleanable(time.NowMs));
    }

    [Fact]
    public void Produce_AfterCleaning_AppendsAtTheLogEndAndCleaningAgainIsStable()
    {
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), Compacted());
        for (var v = 0; v < 20; v++)
        {
            Write(log, Enumerable.Range(0, 5).Select(k => (k, (string?)$"v{v}")));
        }

        var end = log.LogEndOffset;
        Clean(log, 1_000_000);
        var once = ReadAll(log).Records;
        Assert.Null(Clean(log, 1_000_000)); // nothing dirty: no work
        Assert.Equal(once, ReadAll(log).Records);
        Assert.Equal(end, log.LogEndOffset);
        Assert.True(log.SegmentCount < 20);
    }

    /// <summary>Crash states a kill -9 can leave, in order along the swap: each recovers to the log before or after cleaning, nothing lost.</summary>
    [Theory]
    [InlineData("cleaned-partial")]
    [InlineData("swap-before-renames")]
    [InlineData("swap-first-renamed")]
    [InlineData("swap-all-renamed")]
    [InlineData("swapped-no-index")]
    public void Recovery_AfterACrashDuringTheSwap_IsConsistentAndLosesNothing(string state)
    {
        var dir = _dir.Sub("orders-0");
        var copy = _dir.Sub("copy-0");

        // Small segments written, then one larger segment size for cleaning, so several segments merge into one.
        using (var log = LogExtensions.OpenLog(dir, Compacted(300)))
        {
            for (var v = 0; v < 12; v++)
            {
                Write(log, Enumerable.Range(0, 4).Select(k => (k, v == 11 && k == 3 ? null : (string?)$"v{v}")));
            }
        }

        using (var original = LogExtensions.OpenLog(dir, Compacted(300)))
        {
            Assert.True(original.SegmentCount > 4);
        }

        CopyDirectory(dir, copy);
        List<(long Offset, string Key, string? Value, long Timestamp)> before, cleaned;
        using (var log = LogExtensions.OpenLog(dir, Compacted(100_000)))
        {
            before = ReadAll(log).Records;
        }

        using (var log = LogExtensions.OpenLog(copy, Compacted(100_000)))
        {
            Clean(log, 1_000_000);
            cleaned = ReadAll(log).Records;
        }

        var olds = Directory.EnumerateFiles(dir, "*.log").Order(StringComparer.Ordinal).ToList();
        var cleanedFile = Path.Combine(copy, Path.GetFileName(olds[0]));
        var swap = olds[0] + PartitionLog.SwapSuffix;
        switch (state)
        {
            case "cleaned-partial":
                File.WriteAllBytes(olds[0] + PartitionLog.CleanedSuffix, File.ReadAllBytes(cleanedFile)[..100]);
                break;
            case "swap-before-renames":
                File.Copy(cleanedFile, swap);
                break;
            case "swap-first-renamed":
                File.Copy(cleanedFile, swap);
                File.Move(olds[0], olds[0] + LogSegment.DeletedSuffix);
                break;
            case "swap-all-renamed":
                File.Copy(cleanedFile, swap);
                foreach (var old in olds.SkipLast(1))
                {
                    File.Move(old, old + LogSegment.DeletedSuffix);
                }

                break;
            case "swapped-no-index":
                foreach (var old in olds.SkipLast(1))
                {
                    foreach (var suffix in new[] { ".log", ".index", ".timeindex" })
                    {
                        var path = Path.ChangeExtension(old, suffix);
                        File.Move(path, path + LogSegment.DeletedSuffix);
                    }
                }

                File.Copy(cleanedFile, olds[0]);
                break;
        }

        foreach (var clean in new[] { false, true })
        {
            using var log = LogExtensions.OpenLog(dir, Compacted(100_000), clean: clean);
            var after = ReadAll(log).Records;
            Assert.Equal(state == "cleaned-partial" ? before : cleaned, after);
            Assert.Equal(Replay(before), Replay(after));
            Assert.Empty(Directory.EnumerateFiles(dir, "*.swap").Concat(Directory.EnumerateFiles(dir, "*.cleaned")));
            Assert.Equal(before[^1].Offset + 1, log.LogEndOffset);
            Assert.All(after, r => Assert.True(BatchHolds(log.Read(r.Offset, 1, log.HighWatermark, true).ReadBytes(), r.Offset)));
        }
    }

    private static bool BatchHolds(byte[] bytes, long offset)
    {
        var header = new RecordBatchHeader(bytes);
        return header.BaseOffset <= offset && offset <= header.LastOffset;
    }

    [Fact]
    public async Task Read_ThroughASwap_NeverFailsAndNeverGoesBack()
    {
        // file.delete.delay.ms as Kafka's default: replaced segments stay readable for reads already handed out.
        using var log = LogExtensions.OpenLog(_dir.Sub("orders-0"), Compacted() with { FileDeleteDelayMs = 60_000 });
        for (var v = 0; v < 60; v++)
        {
            Write(log, Enumerable.Range(0, 4).Select(k => (k, (string?)$"{v}")));
        }

        // A reader positioned mid-log reads one batch at a time while the log is cleaned under it.
        var offset = 40L;
        var seen = new Dictionary<string, int>();
        var cleaner = Task.Run(() => Clean(log, 1_000_000));
        while (offset < log.HighWatermark)
        {
            var bytes = log.Read(offset, 1, log.HighWatermark, true).ReadBytes();
            var header = new RecordBatchHeader(bytes);
            using var reader = new RecordReader(bytes);
            while (reader.TryReadNext(out var r))
            {
                if (r.Offset < offset)
                {
                    continue;
                }

                var key = Encoding.UTF8.GetString(r.Key);
                var version = int.Parse(Encoding.UTF8.GetString(r.Value));
                Assert.True(version > seen.GetValueOrDefault(key, -1), $"{key} went back to {version}");
                seen[key] = version;
            }

            offset = header.LastOffset + 1;
        }

        Assert.NotNull(await cleaner);
        Assert.Equal(59, seen["k0"]);
    }

    /// <summary>Appends records of key <paramref name="key"/> until the active segment rolls, so what came before is cleanable.</summary>
    private static void FillUntilRolled(PartitionLog log, int key, long timestamp = 1_000)
    {
        var segments = log.SegmentCount;
        while (log.SegmentCount == segments)
        {
            Write(log, [(key, "filler")], timestamp);
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
