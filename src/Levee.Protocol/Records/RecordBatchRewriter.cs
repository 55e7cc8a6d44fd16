using System.Buffers;
using System.Buffers.Binary;

namespace Levee.Protocol.Records;

/// <summary>The rewrites of a produced batch that Kafka performs on append (LogValidator).</summary>
public static class RecordBatchRewriter
{
    [ThreadStatic]
    private static PooledBufferWriter? t_records;

    /// <summary>
    /// Appends to <paramref name="output"/> <paramref name="batch"/> (one whole, valid, non-control batch) compressed
    /// with <paramref name="codec"/> instead of its own: Kafka's recompression on append when a topic's compression.type
    /// is not the producer's codec. The records section is carried over byte for byte once decompressed (every record's
    /// offset delta, timestamp delta, key, value and headers), and so is the header but for the codec bits of the
    /// attributes and the batch length; the CRC is recomputed. Producer id, epoch and base sequence, the transactional
    /// flag, the timestamps and the offsets stay as produced, so idempotence and transactions see the same batch.
    /// </summary>
    /// <param name="batch">The batch; only its own bytes are read.</param>
    /// <param name="codec">The codec to store it with.</param>
    /// <param name="level">Kafka's level for <paramref name="codec"/> (see <see cref="CompressionCodecs.Compress"/>), or null.</param>
    /// <param name="output">Receives the rewritten batch.</param>
    /// <param name="maxUncompressedBytes">Bound on the batch's decompressed records.</param>
    /// <returns>The size of the rewritten batch.</returns>
    /// <exception cref="ArgumentException">The span does not hold the whole batch, or it is a control batch (never recompressed, as in Kafka).</exception>
    /// <exception cref="InvalidDataException">The records do not decompress within <paramref name="maxUncompressedBytes"/>.</exception>
    public static int Recompress(ReadOnlySpan<byte> batch, CompressionType codec, int? level, PooledBufferWriter output, int maxUncompressedBytes = RecordReader.DefaultMaxUncompressedBytes)
    {
        ArgumentNullException.ThrowIfNull(output);
        batch = WholeBatch(batch);
        var header = new RecordBatchHeader(batch);
        if (header.IsControl)
        {
            throw new ArgumentException("Control batches are never recompressed.", nameof(batch));
        }

        var start = output.WrittenCount;
        output.Write(batch[..RecordBatchHeader.Size]);
        var body = batch[RecordBatchHeader.Size..];
        if (header.Compression == CompressionType.None)
        {
            CompressionCodecs.Compress(codec, body, output, level);
        }
        else
        {
            var records = t_records ??= new PooledBufferWriter();
            try
            {
                records.Clear();
                CompressionCodecs.Decompress(header.Compression, body, records, maxUncompressedBytes);
                CompressionCodecs.Compress(codec, records.WrittenSpan, output, level);
            }
            finally
            {
                // Give the (possibly large) array back rather than pinning it to this thread.
                records.Reset();
            }
        }

        var rewritten = output.WrittenSpanMutable[start..];
        BinaryPrimitives.WriteInt32BigEndian(rewritten[RecordBatchHeader.BatchLengthPosition..], rewritten.Length - RecordBatchHeader.LogOverhead);
        BinaryPrimitives.WriteInt16BigEndian(rewritten[RecordBatchHeader.AttributesPosition..], (short)((header.Attributes & ~0x07) | (int)codec));
        RecordBatchHeader.WriteCrc(rewritten);
        return rewritten.Length;
    }

    /// <summary>
    /// Marks the batch LogAppendTime (attributes bit 3), sets maxTimestamp to <paramref name="timestamp"/> and
    /// recomputes the CRC: Kafka's behaviour for topics with message.timestamp.type=LogAppendTime. The records'
    /// own deltas are untouched; readers take every record's timestamp from maxTimestamp.
    /// </summary>
    /// <exception cref="ArgumentException">The span is shorter than the batch its header describes.</exception>
    public static void SetLogAppendTime(Span<byte> batch, long timestamp)
    {
        batch = batch[..WholeBatch(batch).Length];
        var attributes = BinaryPrimitives.ReadInt16BigEndian(batch[RecordBatchHeader.AttributesPosition..]);
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatchHeader.AttributesPosition..], (short)(attributes | 0x08));
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchHeader.MaxTimestampPosition..], timestamp);
        RecordBatchHeader.WriteCrc(batch);
    }

    /// <summary>The batch at the start of <paramref name="batch"/>: only its own bytes count, even if the span runs on into the next batch.</summary>
    private static ReadOnlySpan<byte> WholeBatch(ReadOnlySpan<byte> batch)
    {
        if (batch.Length < RecordBatchHeader.Size)
        {
            throw new ArgumentException($"A record batch needs at least {RecordBatchHeader.Size} bytes.", nameof(batch));
        }

        var total = (long)BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchHeader.BatchLengthPosition..]) + RecordBatchHeader.LogOverhead;
        if (total < RecordBatchHeader.Size || total > batch.Length)
        {
            throw new ArgumentException("The span does not hold the whole batch its header describes.", nameof(batch));
        }

        return batch[..(int)total];
    }
}
