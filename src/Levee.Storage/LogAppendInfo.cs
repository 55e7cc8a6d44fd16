namespace Levee.Storage;

/// <summary>What an append did: the offsets it assigned and where the bytes went.</summary>
/// <param name="FirstOffset">Base offset of the first batch.</param>
/// <param name="LastOffset">Last offset of the last batch.</param>
/// <param name="MaxTimestamp">Largest batch max timestamp appended (the append time with LogAppendTime), -1 if none.</param>
/// <param name="OffsetOfMaxTimestamp">Last offset of the batch holding <paramref name="MaxTimestamp"/>.</param>
/// <param name="LogAppendTime">The broker time stamped into the batches when LogAppendTime was asked for, else -1.</param>
/// <param name="LogStartOffset">The log start offset after the append (Produce responses return it).</param>
/// <param name="SegmentBaseOffset">Base offset of the segment the bytes were written to.</param>
/// <param name="Position">File position of the first byte within that segment.</param>
/// <param name="Size">Bytes appended.</param>
/// <param name="BatchCount">Batches appended.</param>
/// <param name="RecordCount">Records appended (sum of the batches' record counts).</param>
public readonly record struct LogAppendInfo(
    long FirstOffset,
    long LastOffset,
    long MaxTimestamp,
    long OffsetOfMaxTimestamp,
    long LogAppendTime,
    long LogStartOffset,
    long SegmentBaseOffset,
    long Position,
    int Size,
    int BatchCount,
    long RecordCount)
{
    /// <summary>
    /// True when the append was a retry of a batch an idempotent producer had already written: nothing was
    /// appended, and the offsets are those the original was given (Kafka answers NONE with them).
    /// </summary>
    public bool IsDuplicate { get; init; }
}

/// <summary>An offset and the timestamp found there (ListOffsets answers).</summary>
/// <param name="Offset">The offset.</param>
/// <param name="Timestamp">Its timestamp, -1 when not applicable.</param>
/// <param name="LeaderEpoch">The leader epoch of the batch holding it, -1 when unknown.</param>
public readonly record struct TimestampAndOffset(long Offset, long Timestamp, int LeaderEpoch);

/// <summary>A leader epoch and the first offset written in it (one line of <c>leader-epoch-checkpoint</c>).</summary>
/// <param name="Epoch">Leader epoch.</param>
/// <param name="StartOffset">First offset appended by that leader.</param>
public readonly record struct EpochEntry(int Epoch, long StartOffset);
