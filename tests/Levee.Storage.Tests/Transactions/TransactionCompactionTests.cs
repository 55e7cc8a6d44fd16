using Levee.Storage.ProducerState;

namespace Levee.Storage.Tests.Transactions;

public sealed class TransactionCompactionTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string LogDir => _dir.Sub("orders-0");

    private static LogConfig Compacted => LogConfig.Default with
    {
        Compact = true,
        Delete = false,
        SegmentBytes = 250,
        IndexIntervalBytes = 0,
        FileDeleteDelayMs = 0,
        MinCleanableDirtyRatio = 0,
    };

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

    private static void Clean(PartitionLog log)
    {
        using var resources = new CleanerResources(1 << 20, 0.9, new CleanerThrottler(double.MaxValue, TimeProvider.System));
        Assert.NotNull(log.Clean(1_000_000, resources, CancellationToken.None));
    }

    private static List<long> MarkerOffsets(PartitionLog log) => [.. Walk(log).Where(b => b.IsControl).Select(b => b.Offset)];

    private static List<int> RawValues(PartitionLog log) => [.. Walk(log).Where(b => !b.IsControl).SelectMany(b => b.Values)];

    private static List<(long Offset, bool IsControl, List<int> Values)> Walk(PartitionLog log)
    {
        var result = new List<(long, bool, List<int>)>();
        var offset = log.LogStartOffset;
        while (offset < log.HighWatermark)
        {
            var bytes = log.Read(offset, int.MaxValue).ReadBytes();
            if (bytes.Length == 0)
            {
                break;
            }

            var at = 0;
            while (at < bytes.Length)
            {
                var header = new Levee.Protocol.Records.RecordBatchHeader(bytes.AsSpan(at));
                var values = new List<int>();
                if (!header.IsControl)
                {
                    using var reader = new Levee.Protocol.Records.RecordReader(bytes.AsSpan(at, header.TotalSize));
                    while (reader.TryReadNext(out var r))
                    {
                        values.Add(int.Parse(System.Text.Encoding.UTF8.GetString(r.Value)[1..], System.Globalization.CultureInfo.InvariantCulture));
                    }
                }

                result.Add((header.BaseOffset, header.IsControl, values));
                offset = header.LastOffset + 1;
                at += header.TotalSize;
            }
        }

        return result;
    }
}
