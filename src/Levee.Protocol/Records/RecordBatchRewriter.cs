using System.Buffers.Binary;

namespace Levee.Protocol.Records;

/// <summary>In-place rewrites of a stored batch's header that Kafka performs on append.</summary>
public static class RecordBatchRewriter
{
    /// <summary>
    /// Marks the batch LogAppendTime (attributes bit 3), sets maxTimestamp to <paramref name="timestamp"/> and
    /// recomputes the CRC: Kafka's behaviour for topics with message.timestamp.type=LogAppendTime. The records'
    /// own deltas are untouched; readers take every record's timestamp from maxTimestamp.
    /// </summary>
    /// <exception cref="ArgumentException">The span is shorter than the batch its header describes.</exception>
    public static void SetLogAppendTime(Span<byte> batch, long timestamp)
    {
        if (batch.Length < RecordBatchHeader.Size)
        {
            throw new ArgumentException($"A record batch needs at least {RecordBatchHeader.Size} bytes.", nameof(batch));
        }

        // Only the batch's own bytes count, even if the span runs on into the next batch.
        var total = (long)BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchHeader.BatchLengthPosition..]) + RecordBatchHeader.LogOverhead;
        if (total < RecordBatchHeader.Size || total > batch.Length)
        {
            throw new ArgumentException("The span does not hold the whole batch its header describes.", nameof(batch));
        }

        batch = batch[..(int)total];
        var attributes = BinaryPrimitives.ReadInt16BigEndian(batch[RecordBatchHeader.AttributesPosition..]);
        BinaryPrimitives.WriteInt16BigEndian(batch[RecordBatchHeader.AttributesPosition..], (short)(attributes | 0x08));
        BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchHeader.MaxTimestampPosition..], timestamp);
        RecordBatchHeader.WriteCrc(batch);
    }
}
