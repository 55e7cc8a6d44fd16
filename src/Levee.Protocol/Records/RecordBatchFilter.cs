using System.Buffers;
using System.Buffers.Binary;

namespace Levee.Protocol.Records;

/// <summary>Decides whether log compaction keeps one record of a batch.</summary>
/// <param name="record">The record, with its absolute offset.</param>
/// <param name="batchDeleteHorizonPassed">True when the batch carries a delete horizon (KIP-534) that has passed: its tombstones may go.</param>
public delegate bool RecordRetention(in Record record, bool batchDeleteHorizonPassed);

/// <summary>
/// Rewrites one RecordBatch v2 keeping some of its records, as Kafka's log cleaner does: the base offset, last offset
/// delta, partition leader epoch and producer fields (id, epoch, base sequence) stay as they were, so offsets are
/// preserved (with gaps) and idempotent producers' state can still be rebuilt from the log; the kept records are
/// copied byte for byte but for their timestamp delta, recompressed with the batch's codec, and the CRC recomputed.
/// A batch that keeps tombstones gets a delete horizon (KIP-534): attributes bit 6, with the horizon in the base
/// timestamp and the records' timestamp deltas made relative to it, so every record keeps its timestamp.
/// </summary>
public static class RecordBatchFilter
{
    /// <summary>
    /// Filters <paramref name="batch"/> (one whole, valid, non-control batch) into <paramref name="output"/>. Returns
    /// the number of records kept; nothing is written when none is and <paramref name="retainEmpty"/> is false.
    /// </summary>
    /// <param name="batch">The batch.</param>
    /// <param name="keep">Which records stay.</param>
    /// <param name="nowMs">The cleaner's clock: a delete horizon at or before it has passed.</param>
    /// <param name="deleteRetentionMs"><c>delete.retention.ms</c>: a new delete horizon is now plus this.</param>
    /// <param name="retainEmpty">Write an empty batch (header only) when no record stays: the last batch of an idempotent producer.</param>
    /// <param name="decompressed">Scratch for the decompressed records (reused across calls).</param>
    /// <param name="plain">Scratch for the kept records before compression (reused across calls).</param>
    /// <param name="output">Receives the batch.</param>
    public static int Filter(
        ReadOnlySpan<byte> batch,
        RecordRetention keep,
        long nowMs,
        long deleteRetentionMs,
        bool retainEmpty,
        PooledBufferWriter decompressed,
        PooledBufferWriter plain,
        IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(keep);
        ArgumentNullException.ThrowIfNull(plain);
        ArgumentNullException.ThrowIfNull(output);
        var header = new RecordBatchHeader(batch);
        batch = batch[..header.TotalSize];
        var horizonPassed = header.HasDeleteHorizon && header.BaseTimestamp <= nowMs;
        var logAppendTime = header.IsLogAppendTime;
        plain.Clear();
        var kept = 0;
        var tombstonesKept = false;
        var maxTimestamp = -1L;

        // First pass: which records stay, and whether any kept one is a tombstone (which decides the base timestamp).
        using (var reader = new RecordReader(batch, decompressed))
        {
            while (reader.TryReadNext(out var record))
            {
                if (keep(record, horizonPassed))
                {
                    kept++;
                    tombstonesKept |= record.ValueIsNull;
                    maxTimestamp = Math.Max(maxTimestamp, record.Timestamp);
                }
            }
        }

        var needsHorizon = tombstonesKept && !header.HasDeleteHorizon;
        if (kept == header.RecordCount && !needsHorizon)
        {
            output.Write(batch);
            return kept;
        }

        if (kept == 0 && !retainEmpty)
        {
            return 0;
        }

        var attributes = header.Attributes;
        var baseTimestamp = header.BaseTimestamp;
        if (needsHorizon)
        {
            attributes |= RecordBatchHeader.DeleteHorizonFlag;
            baseTimestamp = nowMs + deleteRetentionMs;
        }
        else if (kept == 0)
        {
            // Kafka's empty batch: no records, no codec, the producer fields and offset range kept.
            attributes = (short)(attributes & ~0x07 & ~RecordBatchHeader.DeleteHorizonFlag);
            baseTimestamp = header.MaxTimestamp;
        }

        if (kept > 0)
        {
            using var reader = new RecordReader(batch, decompressed);
            while (reader.TryReadNext(out var record))
            {
                if (keep(record, horizonPassed))
                {
                    WriteRecord(plain, record, logAppendTime ? record.TimestampDelta : record.Timestamp - baseTimestamp);
                }
            }
        }

        var compression = kept == 0 ? CompressionType.None : header.Compression;
        using var compressed = compression == CompressionType.None ? null : new PooledBufferWriter();
        ReadOnlySpan<byte> body = plain.WrittenSpan;
        if (compressed is not null)
        {
            CompressionCodecs.Compress(compression, body, compressed);
            body = compressed.WrittenSpan;
        }

        var total = RecordBatchHeader.Size + body.Length;
        var target = output.GetSpan(total)[..total];
        batch[..RecordBatchHeader.Size].CopyTo(target);
        BinaryPrimitives.WriteInt32BigEndian(target[RecordBatchHeader.BatchLengthPosition..], total - RecordBatchHeader.LogOverhead);
        BinaryPrimitives.WriteInt16BigEndian(target[RecordBatchHeader.AttributesPosition..], attributes);
        BinaryPrimitives.WriteInt64BigEndian(target[RecordBatchHeader.BaseTimestampPosition..], baseTimestamp);
        if (!logAppendTime && kept > 0)
        {
            BinaryPrimitives.WriteInt64BigEndian(target[RecordBatchHeader.MaxTimestampPosition..], maxTimestamp);
        }

        BinaryPrimitives.WriteInt32BigEndian(target[RecordBatchHeader.RecordCountPosition..], kept);
        body.CopyTo(target[RecordBatchHeader.Size..]);
        RecordBatchHeader.WriteCrc(target);
        output.Advance(total);
        return kept;
    }

    /// <summary>Writes <paramref name="record"/> as it was but for its timestamp delta.</summary>
    private static void WriteRecord(PooledBufferWriter output, in Record record, long timestampDelta)
    {
        var headers = record.HeaderBytes;
        var bodySize = 1 + Varint.SizeOfInt64(timestampDelta) + Varint.SizeOfInt32(record.OffsetDelta)
            + SizeOfBytes(record.Key, record.KeyIsNull) + SizeOfBytes(record.Value, record.ValueIsNull)
            + Varint.SizeOfInt32(record.HeaderCount) + headers.Length;
        var total = Varint.SizeOfInt32(bodySize) + bodySize;
        var span = output.GetSpan(total);
        var p = Varint.WriteInt32(span, bodySize);
        span[p++] = (byte)record.Attributes;
        p += Varint.WriteInt64(span[p..], timestampDelta);
        p += Varint.WriteInt32(span[p..], record.OffsetDelta);
        p += WriteBytes(span[p..], record.Key, record.KeyIsNull);
        p += WriteBytes(span[p..], record.Value, record.ValueIsNull);
        p += Varint.WriteInt32(span[p..], record.HeaderCount);
        headers.CopyTo(span[p..]);
        output.Advance(p + headers.Length);
    }

    private static int SizeOfBytes(ReadOnlySpan<byte> bytes, bool isNull) =>
        isNull ? 1 : Varint.SizeOfInt32(bytes.Length) + bytes.Length;

    private static int WriteBytes(Span<byte> destination, ReadOnlySpan<byte> bytes, bool isNull)
    {
        if (isNull)
        {
            return Varint.WriteInt32(destination, -1);
        }

        var p = Varint.WriteInt32(destination, bytes.Length);
        bytes.CopyTo(destination[p..]);
        return p + bytes.Length;
    }
}
