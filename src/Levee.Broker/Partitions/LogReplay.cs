using Levee.Protocol.Records;
using Levee.Storage;

namespace Levee.Broker.Partitions;

/// <summary>Receives one whole record batch of a log being replayed.</summary>
/// <param name="batch">The batch's bytes, valid only during the call.</param>
public delegate void BatchVisitor(ReadOnlySpan<byte> batch);

/// <summary>
/// Reads an internal topic's partition from its start to an offset, batch by batch, in log order: how a coordinator
/// (groups on __consumer_offsets, transactions on __transaction_state) loads what it owns.
/// </summary>
public static class LogReplay
{
    /// <summary>Calls <paramref name="visit"/> with every batch of <paramref name="log"/> below <paramref name="end"/>.</summary>
    public static void ForEachBatch(PartitionLog log, long end, BatchVisitor visit)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(visit);
        var position = log.LogStartOffset;
        while (position < end)
        {
            var read = log.Read(position, 1 << 20, end, minOneBatch: true);
            if (read.Length == 0)
            {
                break;
            }

            var buffer = new byte[read.Length];
            read.CopyTo(buffer);
            var at = 0;
            while (at + RecordBatchHeader.Size <= buffer.Length)
            {
                var header = new RecordBatchHeader(buffer.AsSpan(at));
                var total = header.TotalSize;
                if (at + total > buffer.Length)
                {
                    break;
                }

                visit(buffer.AsSpan(at, total));
                position = header.LastOffset + 1;
                at += total;
            }
        }
    }
}
