using Levee.Protocol.Records;

namespace Levee.Storage;

/// <summary>
/// The one place storage looks inside a batch: record timestamps, for ListOffsets by timestamp. Only
/// uncompressed CreateTime batches are decoded (record length, attributes, timestampDelta, offsetDelta, then a
/// skip); compressed batches answer at batch level.
/// </summary>
internal static class RecordTimestamps
{
    /// <summary>
    /// Offset and timestamp of the first record with timestamp &gt;= <paramref name="target"/> (or, with
    /// <paramref name="exact"/>, == target) in <paramref name="batch"/>; falls back to the batch's base offset
    /// and max timestamp when the records cannot be read. Records below <paramref name="minOffset"/> (the log start
    /// offset, inside a batch that straddles it) are skipped.
    /// </summary>
    public static (long Offset, long Timestamp) Find(ReadOnlySpan<byte> batch, long target, bool exact, long minOffset)
    {
        var header = new RecordBatchHeader(batch);
        if (header.IsLogAppendTime)
        {
            // Every record carries the batch's append time.
            return (Math.Max(header.BaseOffset, minOffset), header.MaxTimestamp);
        }

        if (header.Compression != CompressionType.None || batch.Length < header.TotalSize)
        {
            return (Math.Max(header.BaseOffset, minOffset), header.MaxTimestamp);
        }

        var records = batch[RecordBatchHeader.Size..header.TotalSize];
        var count = header.RecordCount;
        for (var i = 0; i < count && !records.IsEmpty; i++)
        {
            if (!TryReadVarLong(records, out var length, out var n) || length < 0 || n + length > records.Length)
            {
                break;
            }

            var record = records.Slice(n, (int)length);
            records = records[(n + (int)length)..];
            if (record.Length < 1)
            {
                break;
            }

            var body = record[1..]; // attributes
            if (!TryReadVarLong(body, out var timestampDelta, out var t))
            {
                break;
            }

            body = body[t..];
            if (!TryReadVarLong(body, out var offsetDelta, out _))
            {
                break;
            }

            var timestamp = header.BaseTimestamp + timestampDelta;
            if (header.BaseOffset + offsetDelta >= minOffset && (exact ? timestamp == target : timestamp >= target))
            {
                return (header.BaseOffset + offsetDelta, timestamp);
            }
        }

        return (Math.Max(header.BaseOffset, minOffset), header.MaxTimestamp);
    }

    /// <summary>Reads a zig-zag varint/varlong (Kafka's record fields).</summary>
    private static bool TryReadVarLong(ReadOnlySpan<byte> source, out long value, out int bytesRead)
    {
        ulong raw = 0;
        var shift = 0;
        for (var i = 0; i < source.Length && i < 10; i++)
        {
            var b = source[i];
            raw |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                value = (long)(raw >> 1) ^ -(long)(raw & 1);
                bytesRead = i + 1;
                return true;
            }

            shift += 7;
        }

        value = 0;
        bytesRead = 0;
        return false;
    }
}
