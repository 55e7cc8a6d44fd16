using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Levee.Protocol.Records;

/// <summary>A record header to write: a UTF-8 key and a nullable value.</summary>
/// <param name="Key">Header key.</param>
/// <param name="Value">Header value; null writes length -1.</param>
public readonly record struct RecordHeaderData(string Key, ReadOnlyMemory<byte>? Value);

/// <summary>
/// A record to write. Beware C#'s conversions: a <c>byte[]</c> variable holding null converts to an empty,
/// non-null <see cref="ReadOnlyMemory{T}"/>; pass <c>null</c> itself (or <c>(ReadOnlyMemory&lt;byte&gt;?)null</c>) for a null key or value.
/// </summary>
/// <param name="Key">Key; null writes length -1.</param>
/// <param name="Value">Value; null writes length -1 (a tombstone).</param>
/// <param name="Timestamp">Record timestamp in epoch milliseconds (CreateTime).</param>
/// <param name="Headers">Headers, or null for none.</param>
public readonly record struct RecordData(
    ReadOnlyMemory<byte>? Key,
    ReadOnlyMemory<byte>? Value,
    long Timestamp,
    IReadOnlyList<RecordHeaderData>? Headers = null);

/// <summary>Header fields of a batch to build. Defaults describe a plain, non-idempotent batch at offset 0.</summary>
public readonly record struct RecordBatchOptions
{
    /// <summary>Creates options with Kafka's "none" values for the producer fields.</summary>
    public RecordBatchOptions()
    {
    }

    /// <summary>Offset of the first record.</summary>
    public long BaseOffset { get; init; }

    /// <summary>Leader epoch stamped by the partition leader, or -1.</summary>
    public int PartitionLeaderEpoch { get; init; } = -1;

    /// <summary>Compression codec of the records section.</summary>
    public CompressionType Compression { get; init; } = CompressionType.None;

    /// <summary>Producer id, or -1.</summary>
    public long ProducerId { get; init; } = -1;

    /// <summary>Producer epoch, or -1.</summary>
    public short ProducerEpoch { get; init; } = -1;

    /// <summary>Sequence number of the first record, or -1.</summary>
    public int BaseSequence { get; init; } = -1;

    /// <summary>Timestamp type; with LogAppendTime, maxTimestamp is <see cref="LogAppendTime"/>.</summary>
    public TimestampType TimestampType { get; init; } = TimestampType.CreateTime;

    /// <summary>The broker's append time, used as maxTimestamp when <see cref="TimestampType"/> is LogAppendTime.</summary>
    public long LogAppendTime { get; init; } = -1;

    /// <summary>Sets the transactional attribute (bit 4).</summary>
    public bool IsTransactional { get; init; }

    /// <summary>Sets the control attribute (bit 5), for transaction markers.</summary>
    public bool IsControl { get; init; }
}

/// <summary>
/// Builds a RecordBatch v2 (magic 2) with a correct CRC-32C. Used by tests and by the broker's internal logs
/// (group offsets, transaction markers); produced batches are stored as received (or recompressed by
/// <see cref="RecordBatchRewriter.Recompress"/>), never rebuilt.
/// </summary>
public static class RecordBatchBuilder
{
    /// <summary>
    /// Writes one batch holding <paramref name="records"/> to <paramref name="output"/>; returns its size in bytes.
    /// The base timestamp is the first record's; offset deltas are the records' indexes.
    /// </summary>
    public static int Build(IBufferWriter<byte> output, in RecordBatchOptions options, ReadOnlySpan<RecordData> records)
    {
        ArgumentNullException.ThrowIfNull(output);
        var baseTimestamp = records.IsEmpty ? -1 : records[0].Timestamp;
        var maxTimestamp = -1L;

        using var plain = new PooledBufferWriter();
        for (var i = 0; i < records.Length; i++)
        {
            maxTimestamp = Math.Max(maxTimestamp, records[i].Timestamp);
            WriteRecord(plain, records[i], i, baseTimestamp);
        }

        if (options.TimestampType == TimestampType.LogAppendTime)
        {
            maxTimestamp = options.LogAppendTime;
        }

        using var compressed = options.Compression == CompressionType.None ? null : new PooledBufferWriter();
        ReadOnlySpan<byte> body;
        if (compressed is null)
        {
            body = plain.WrittenSpan;
        }
        else
        {
            CompressionCodecs.Compress(options.Compression, plain.WrittenSpan, compressed);
            body = compressed.WrittenSpan;
        }

        var total = RecordBatchHeader.Size + body.Length;
        var batch = output.GetSpan(total)[..total];
        var attributes = (short)((int)options.Compression & 0x07);
        if (options.TimestampType == TimestampType.LogAppendTime)
        {
            attributes |= 0x08;
        }

        if (options.IsTransactional)
        {
            attributes |= 0x10;
        }

        if (options.IsControl)
        {
            attributes |= 0x20;
        }

        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchHeader.BaseOffsetPosition..], options.BaseOffset);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchHeader.BatchLengthPosition..], total - RecordBatchHeader.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchHeader.PartitionLeaderEpochPosition..], options.PartitionLeaderEpoch);
        batch[RecordBatchHeader.MagicPosition] = 2;
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatchHeader.AttributesPosition..], attributes);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchHeader.LastOffsetDeltaPosition..], records.Length - 1);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchHeader.BaseTimestampPosition..], baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchHeader.MaxTimestampPosition..], maxTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchHeader.ProducerIdPosition..], options.ProducerId);
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatchHeader.ProducerEpochPosition..], options.ProducerEpoch);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchHeader.BaseSequencePosition..], options.BaseSequence);
        BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchHeader.RecordCountPosition..], records.Length);
        body.CopyTo(batch[RecordBatchHeader.Size..]);
        RecordBatchHeader.WriteCrc(batch);
        output.Advance(total);
        return total;
    }

    /// <summary>Builds one batch into a new array (convenience for tests and small internal writes).</summary>
    public static byte[] BuildToArray(in RecordBatchOptions options, ReadOnlySpan<RecordData> records)
    {
        using var writer = new PooledBufferWriter();
        Build(writer, options, records);
        return writer.WrittenSpan.ToArray();
    }

    private static void WriteRecord(PooledBufferWriter output, in RecordData record, int offsetDelta, long baseTimestamp)
    {
        var timestampDelta = record.Timestamp - baseTimestamp;
        var headers = record.Headers;
        var headerCount = headers?.Count ?? 0;

        var bodySize = 1 + Varint.SizeOfInt64(timestampDelta) + Varint.SizeOfInt32(offsetDelta)
            + SizeOfBytes(record.Key) + SizeOfBytes(record.Value) + Varint.SizeOfInt32(headerCount);
        for (var h = 0; h < headerCount; h++)
        {
            var keyLength = Encoding.UTF8.GetByteCount(headers![h].Key);
            bodySize += Varint.SizeOfInt32(keyLength) + keyLength + SizeOfBytes(headers[h].Value);
        }

        var total = Varint.SizeOfInt32(bodySize) + bodySize;
        var span = output.GetSpan(total);
        var p = Varint.WriteInt32(span, bodySize);
        span[p++] = 0; // attributes
        p += Varint.WriteInt64(span[p..], timestampDelta);
        p += Varint.WriteInt32(span[p..], offsetDelta);
        p += WriteBytes(span[p..], record.Key);
        p += WriteBytes(span[p..], record.Value);
        p += Varint.WriteInt32(span[p..], headerCount);
        for (var h = 0; h < headerCount; h++)
        {
            var key = headers![h].Key;
            var keyLength = Encoding.UTF8.GetByteCount(key);
            p += Varint.WriteInt32(span[p..], keyLength);
            p += Encoding.UTF8.GetBytes(key, span[p..]);
            p += WriteBytes(span[p..], headers[h].Value);
        }

        output.Advance(p);
    }

    private static int SizeOfBytes(ReadOnlyMemory<byte>? bytes) =>
        bytes is { } b ? Varint.SizeOfInt32(b.Length) + b.Length : 1;

    private static int WriteBytes(Span<byte> destination, ReadOnlyMemory<byte>? bytes)
    {
        if (bytes is not { } b)
        {
            return Varint.WriteInt32(destination, -1);
        }

        var p = Varint.WriteInt32(destination, b.Length);
        b.Span.CopyTo(destination[p..]);
        return p + b.Length;
    }
}
