using System.Text;
using Levee.Protocol.Records;
using Levee.Storage.ProducerState;

namespace Levee.Storage.Tests.Transactions;

/// <summary>Transactional test batches and a read_committed reader of a log.</summary>
internal static class TxnLog
{
    /// <summary>A transactional batch of <paramref name="values"/> (key "k{value}") from a producer.</summary>
    public static byte[] Data(long producerId, short epoch, int baseSequence, params int[] values) =>
        RecordBatchBuilder.BuildToArray(
            new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = epoch, BaseSequence = baseSequence, IsTransactional = true },
            [.. values.Select(v => new RecordData(Encoding.UTF8.GetBytes($"k{v}"), Encoding.UTF8.GetBytes($"v{v}"), 1_000))]);

    /// <summary>Appends as the single-node broker does (the high watermark follows the log end).</summary>
    public static LogAppendInfo Marker(this PartitionLog log, long producerId, bool commit, short epoch = 0, int coordinatorEpoch = 0)
    {
        var info = log.AppendMarkerAsLeader(producerId, epoch, commit, coordinatorEpoch, leaderEpoch: 0);
        log.HighWatermark = log.LogEndOffset;
        return info;
    }

    /// <summary>
    /// What a read_committed consumer gets from <paramref name="from"/>: the values of data records below the last
    /// stable offset, minus those of aborted transactions (filtered with the aborted list, as clients do).
    /// </summary>
    public static List<int> ReadCommitted(this PartitionLog log, long from = 0)
    {
        var lastStable = log.LastStableOffset;
        var values = new List<int>();
        var offset = Math.Max(from, log.LogStartOffset);
        var aborted = log.CollectAbortedTransactions(offset, lastStable).OrderBy(a => a.FirstOffset).ToList();
        var abortedOpen = new HashSet<long>();
        var next = 0;
        while (offset < lastStable)
        {
            var bytes = log.Read(offset, int.MaxValue, lastStable, minOneBatch: true).ReadBytes();
            if (bytes.Length == 0)
            {
                break;
            }

            var at = 0;
            while (at < bytes.Length)
            {
                var header = new RecordBatchHeader(bytes.AsSpan(at));
                while (next < aborted.Count && aborted[next].FirstOffset <= header.BaseOffset)
                {
                    abortedOpen.Add(aborted[next++].ProducerId);
                }

                if (header.IsControl)
                {
                    abortedOpen.Remove(header.ProducerId);
                }
                else if (!(header.IsTransactional && abortedOpen.Contains(header.ProducerId)))
                {
                    using var reader = new RecordReader(bytes.AsSpan(at, header.TotalSize));
                    while (reader.TryReadNext(out var r))
                    {
                        values.Add(ValueOf(r.Value));
                    }
                }

                offset = header.LastOffset + 1;
                at += header.TotalSize;
            }
        }

        return values;
    }

    /// <summary>A compacted log's config that lets the cleaner take any dirty segment at once.</summary>
    public static LogConfig Compacted(int segmentBytes) => LogConfig.Default with
    {
        Compact = true,
        Delete = false,
        SegmentBytes = segmentBytes,
        IndexIntervalBytes = 0,
        FileDeleteDelayMs = 0,
        MinCleanableDirtyRatio = 0,
    };

    /// <summary>Every batch below the high watermark (read_uncommitted): its offset, whether it is a marker, its records' (offset, value).</summary>
    public static List<(long Offset, bool IsControl, List<(long Offset, int Value)> Records)> Batches(this PartitionLog log)
    {
        var result = new List<(long, bool, List<(long, int)>)>();
        var offset = log.LogStartOffset;
        while (offset < log.HighWatermark)
        {
            // A read returns the batches of one segment at most.
            var bytes = log.Read(offset, int.MaxValue).ReadBytes();
            if (bytes.Length == 0)
            {
                break;
            }

            var at = 0;
            while (at < bytes.Length)
            {
                var header = new RecordBatchHeader(bytes.AsSpan(at));
                var records = new List<(long, int)>();
                if (!header.IsControl)
                {
                    using var reader = new RecordReader(bytes.AsSpan(at, header.TotalSize));
                    while (reader.TryReadNext(out var r))
                    {
                        records.Add((r.Offset, ValueOf(r.Value)));
                    }
                }

                result.Add((header.BaseOffset, header.IsControl, records));
                offset = header.LastOffset + 1;
                at += header.TotalSize;
            }
        }

        return result;
    }

    private static int ValueOf(ReadOnlySpan<byte> value) => int.Parse(Encoding.UTF8.GetString(value)[1..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The producer's open transaction's first offset as DescribeProducers reports it.</summary>
    public static long TxnStart(this PartitionLog log, long producerId) =>
        log.ActiveProducers().Single(p => p.ProducerId == producerId).CurrentTxnStartOffset;

    /// <summary>The entries of every segment's transaction index file, read from disk.</summary>
    public static List<AbortedTxnEntry> TxnIndexFiles(string directory)
    {
        var entries = new List<AbortedTxnEntry>();
        foreach (var path in Directory.GetFiles(directory, "*.txnindex").Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(0, bytes.Length % 34);
            for (var i = 0; i < bytes.Length; i += 34)
            {
                var e = bytes.AsSpan(i);
                Assert.Equal(0, System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(e));
                entries.Add(new AbortedTxnEntry(
                    System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(e[2..]),
                    System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(e[10..]),
                    System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(e[18..]),
                    System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(e[26..])));
            }
        }

        return entries;
    }
}
