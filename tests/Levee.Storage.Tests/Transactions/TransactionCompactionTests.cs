using Levee.Storage.ProducerState;

namespace Levee.Storage.Tests.Transactions;

public sealed class TransactionCompactionTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string LogDir => _dir.Sub("orders-0");

    private static LogConfig Compacted => TxnLog.Compacted(250);

    [Fact]
    public void Clean_DropsAbortedRecords_KeepsMarkersAndTheTxnIndex_AndStopsAtTheLastStableOffset()
    {
        using (var log = LogExtensions.OpenLog(LogDir, Compacted))
        {
            log.Append(TxnLog.Data(7, 0, 0, 1, 2));   // committed
            log.Marker(7, commit: true);
            log.Append(TxnLog.Data(8, 0, 0, 3, 4));   // aborted
            log.Marker(8, commit: false);
            log.Append(TxnLog.Data(9, 0, 0, 5));      // open: the last stable offset stays here
            var open = log.LastStableOffset;
            for (var i = 0; i < 4; i++)
            {
                log.Append(TxnLog.Data(7, 0, 2 + i, 1)); // key 1 again, in later segments
                log.Marker(7, commit: true);
            }

            Assert.True(log.SegmentCount > 3, $"{log.SegmentCount} segments");
            var aborted = log.CollectAbortedTransactions(0, log.LogEndOffset);
            var markersBefore = MarkerOffsets(log);
            var aboveBefore = log.Read(open, int.MaxValue).ReadBytes();

            Clean(log);

            Assert.True(log.FirstDirtyOffset <= open, $"cleaned up to {log.FirstDirtyOffset}, last stable offset {open}");
            Assert.Equal(aboveBefore, log.Read(open, int.MaxValue).ReadBytes()); // nothing at or above it touched
            Assert.Equal(markersBefore, MarkerOffsets(log));
            Assert.Equal(aborted, log.CollectAbortedTransactions(0, log.LogEndOffset));
            Assert.Equal([new AbortedTxnEntry(8, 3, 5, 6)], TxnLog.TxnIndexFiles(LogDir));

            // The aborted records are gone from the log itself, not only from the read_committed view.
            var values = RawValues(log);
            Assert.DoesNotContain(3, values);
            Assert.DoesNotContain(4, values);
            Assert.Contains(1, values);
            Assert.Contains(2, values);
        }

        // The cleaned segment's index is the one a reopened log reads.
        using var reopened = LogExtensions.OpenLog(LogDir, Compacted);
        Assert.Equal([new AbortedTxn(8, 3)], reopened.CollectAbortedTransactions(0, reopened.LogEndOffset));
    }

    /// <summary>A kill -9 during the swap: the aborted transactions of the replaced segments are neither lost nor doubled.</summary>
    [Theory]
    [InlineData(true)]   // the log's swap file was complete: the open finishes the swap, index included
    [InlineData(false)]  // only the index's swap file was written: that cleaning is lost, the old segments stay
    public void Recovery_AfterACrashDuringTheSwap_KeepsTheAbortedTransactions(bool logSwapWritten)
    {
        var copy = _dir.Sub("copy-0");
        using (var log = LogExtensions.OpenLog(LogDir, Compacted))
        {
            for (var i = 0; i < 6; i++)
            {
                log.Append(TxnLog.Data(7, 0, i, i % 2));
                log.Marker(7, commit: i % 2 == 0);
            }

            log.Append(TxnLog.Data(9, 0, 0, 2));
            log.Marker(9, commit: true);
            Assert.True(log.SegmentCount > 3, $"{log.SegmentCount} segments");
        }

        var aborted = TxnLog.TxnIndexFiles(LogDir);
        Assert.Equal(3, aborted.Count);
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(LogDir))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        using (var log = LogExtensions.OpenLog(copy, TxnLog.Compacted(100_000)))
        {
            Clean(log);
        }

        var first = Path.Combine(LogDir, "00000000000000000000");
        File.Copy(Path.Combine(copy, "00000000000000000000.txnindex"), first + ".txnindex" + PartitionLog.SwapSuffix);
        if (logSwapWritten)
        {
            File.Copy(Path.Combine(copy, "00000000000000000000.log"), first + ".log" + PartitionLog.SwapSuffix);
        }

        using var reopened = LogExtensions.OpenLog(LogDir, TxnLog.Compacted(100_000));
        Assert.Empty(Directory.EnumerateFiles(LogDir, "*.swap"));
        Assert.Equal(aborted, TxnLog.TxnIndexFiles(LogDir).OrderBy(e => e.LastOffset));
        Assert.Equal(aborted.Select(e => new AbortedTxn(e.ProducerId, e.FirstOffset)), reopened.CollectAbortedTransactions(0, reopened.LogEndOffset));
        Assert.Equal(logSwapWritten ? 2 : reopened.SegmentCount, reopened.SegmentCount);
        Assert.Equal(logSwapWritten ? [0, 2] : [0, 0, 0, 2], reopened.ReadCommitted()); // k0 compacted to its latest, k1 only ever aborted
    }

    private static void Clean(PartitionLog log)
    {
        using var resources = new CleanerResources(1 << 20, 0.9, new CleanerThrottler(double.MaxValue, TimeProvider.System));
        Assert.NotNull(log.Clean(1_000_000, resources, CancellationToken.None));
    }

    private static List<long> MarkerOffsets(PartitionLog log) => [.. log.Batches().Where(b => b.IsControl).Select(b => b.Offset)];

    private static List<int> RawValues(PartitionLog log) => [.. log.Batches().SelectMany(b => b.Records).Select(r => r.Value)];
}
