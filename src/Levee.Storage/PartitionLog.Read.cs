using System.Buffers;
using Levee.Protocol.Records;
using Microsoft.Win32.SafeHandles;

namespace Levee.Storage;

public sealed partial class PartitionLog
{
    /// <summary>ListOffsets timestamp: the latest offset (log end).</summary>
    public const long LatestTimestamp = -1;

    /// <summary>ListOffsets timestamp: the earliest offset (log start).</summary>
    public const long EarliestTimestamp = -2;

    /// <summary>ListOffsets timestamp (KIP-734): the record with the largest timestamp.</summary>
    public const long MaxTimestampQuery = -3;

    /// <summary>ListOffsets timestamp (KIP-405): the earliest local offset; without tiered storage, the log start.</summary>
    public const long EarliestLocalTimestamp = -4;

    /// <summary>
    /// Reads whole batches starting with the one that contains <paramref name="fetchOffset"/> (a fetch in the
    /// middle of a batch returns the whole batch, as Kafka does; clients skip the records they did not ask for).
    /// Batches are added while the total stays within <paramref name="maxBytes"/>; with
    /// <paramref name="minOneBatch"/> the first batch is returned even if larger (KIP-74). Batches whose last
    /// offset is at or beyond <paramref name="maxOffsetExclusive"/> (usually the high watermark) are not
    /// returned. A read never spans two segments (as in Kafka): the next fetch continues in the next segment.
    /// </summary>
    /// <exception cref="OffsetOutOfRangeException"><paramref name="fetchOffset"/> is below the log start or above the log end.</exception>
    public LogReadResult Read(long fetchOffset, int maxBytes, long maxOffsetExclusive, bool minOneBatch)
    {
        var found = Locate(fetchOffset, maxBytes, maxOffsetExclusive, minOneBatch, keepLease: false);
        return found.Length == 0
            ? LogReadResult.Empty(found.HighWatermark, found.LogStartOffset, found.LogEndOffset)
            : new LogReadResult([new FileSlice(found.Handle!, found.Position, found.Length)], [found.Segment!], found.Length, found.HighWatermark, found.LogStartOffset, found.LogEndOffset);
    }

    /// <summary>Reads up to the high watermark (what consumers may see).</summary>
    public LogReadResult Read(long fetchOffset, int maxBytes, bool minOneBatch = true) =>
        Read(fetchOffset, maxBytes, HighWatermark, minOneBatch);

    /// <summary>
    /// The same batches as <see cref="Read(long, int, long, bool)"/>, as <see cref="FileRecords"/> that keep the
    /// segment file open, with the very handle reference the read scanned with, until they are disposed (and sent):
    /// for Fetch, whose bytes go from the file straight into the connection's send buffer. Null when there is nothing
    /// to return. The caller disposes the result.
    /// </summary>
    /// <exception cref="OffsetOutOfRangeException"><paramref name="fetchOffset"/> is below the log start or above the log end.</exception>
    public FileRecords? ReadRecords(long fetchOffset, int maxBytes, long maxOffsetExclusive, bool minOneBatch)
    {
        var found = Locate(fetchOffset, maxBytes, maxOffsetExclusive, minOneBatch, keepLease: true);
        return found.Length == 0 ? null : new FileRecords(found.Lease, found.Position, found.Length, found.NextOffset);
    }

    /// <summary>Where a read's batches are; with a kept lease when asked for and not empty (the caller then owns it).</summary>
    private readonly record struct Located(LogSegment? Segment, SafeFileHandle? Handle, SegmentFileLease Lease, long Position, int Length, long HighWatermark, long LogStartOffset, long LogEndOffset, long NextOffset = -1);

    private Located Locate(long fetchOffset, int maxBytes, long maxOffsetExclusive, bool minOneBatch, bool keepLease)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return LocateOnce(fetchOffset, maxBytes, maxOffsetExclusive, minOneBatch, keepLease);
            }
            catch (ObjectDisposedException) when (attempt < 3 && !Volatile.Read(ref _disposed))
            {
                // Raced with a segment deleted with file.delete.delay.ms = 0: look again at the current segments.
            }
        }
    }

    private Located LocateOnce(long fetchOffset, int maxBytes, long maxOffsetExclusive, bool minOneBatch, bool keepLease)
    {
        // Log end first: everything below it is already in a segment whose size is published.
        var logEndOffset = LogEndOffset;
        var logStartOffset = LogStartOffset;
        var highWatermark = HighWatermark;
        var nothing = new Located(null, null, default, 0, 0, highWatermark, logStartOffset, logEndOffset);
        if (fetchOffset < logStartOffset || fetchOffset > logEndOffset)
        {
            throw new OffsetOutOfRangeException(TopicPartition, fetchOffset, logStartOffset, logEndOffset);
        }

        var limit = Math.Min(maxOffsetExclusive, logEndOffset);
        if (fetchOffset >= limit)
        {
            return nothing;
        }

        var segments = Volatile.Read(ref _segments);
        var first = FloorSegment(segments, fetchOffset);
        if (first < 0)
        {
            // Retention deleted the segment after the start offset was checked: the offset is gone now.
            throw new OffsetOutOfRangeException(TopicPartition, fetchOffset, LogStartOffset, logEndOffset);
        }

        for (var i = first; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (segment.BaseOffset >= limit)
            {
                break;
            }

            var size = segment.Size;
            long position = 0;
            if (segment.OffsetIndex.TryFloor(fetchOffset - segment.BaseOffset, strict: false, out _, out var hint))
            {
                position = hint;
            }

            var lease = segment.AcquireLog();
            var kept = false;
            try
            {
                using var scanner = new BatchScanner(lease.Handle, size);
                long start = -1, next = -1;
                var length = 0;
                while (scanner.TryReadHeader(position, out var bytes))
                {
                    var header = new RecordBatchHeader(bytes);
                    var total = header.TotalSize;
                    if (start < 0)
                    {
                        if (header.LastOffset < fetchOffset)
                        {
                            position += total;
                            continue;
                        }

                        start = position;
                    }

                    if (header.LastOffset >= limit)
                    {
                        break;
                    }

                    if ((long)length + total > maxBytes)
                    {
                        if (length == 0 && minOneBatch)
                        {
                            length = total;
                            next = header.LastOffset + 1;
                        }

                        break;
                    }

                    length += total;
                    position += total;
                    next = header.LastOffset + 1;
                }

                if (start < 0)
                {
                    continue; // nothing at or after fetchOffset in this segment; the next one has it
                }

                if (length == 0)
                {
                    return nothing;
                }

                kept = keepLease;
                return new Located(segment, lease.Handle, kept ? lease : default, start, length, highWatermark, logStartOffset, logEndOffset, next);
            }
            finally
            {
                if (!kept)
                {
                    lease.Dispose();
                }
            }
        }

        return nothing;
    }

    /// <summary>
    /// ListOffsets. For a timestamp &gt;= 0: the first record with timestamp &gt;= it (found through the time
    /// index, then by decoding the timestamps of the one uncompressed batch that holds it; for a compressed batch
    /// the answer is the batch's first offset at or after the log start, with the batch's max timestamp).
    /// Special values: <see cref="LatestTimestamp"/>, <see cref="EarliestTimestamp"/>,
    /// <see cref="EarliestLocalTimestamp"/> and <see cref="MaxTimestampQuery"/> (KIP-734). Returns null when no
    /// record qualifies. The whole log up to the log end is searched: the broker compares the answer with the
    /// high watermark (or last stable offset) as Kafka does.
    /// </summary>
    public TimestampAndOffset? OffsetForTimestamp(long timestamp)
    {
        switch (timestamp)
        {
            case LatestTimestamp:
                {
                    var end = LogEndOffset;
                    return new TimestampAndOffset(end, -1, _epochs.LatestEpoch);
                }

            case EarliestTimestamp or EarliestLocalTimestamp:
                {
                    var start = LogStartOffset;
                    return new TimestampAndOffset(start, -1, _epochs.EpochAt(start));
                }

            case MaxTimestampQuery:
                return MaxTimestampOffset();
            case < 0:
                throw new ArgumentOutOfRangeException(nameof(timestamp), timestamp, "Unknown special timestamp.");
            default:
                break;
        }

        var logStartOffset = LogStartOffset;
        var logEndOffset = LogEndOffset;
        foreach (var segment in Volatile.Read(ref _segments))
        {
            if (segment.MaxTimestamp < timestamp)
            {
                continue;
            }

            // Time index: largest entry strictly below the target; every batch up to its offset is older.
            var fromOffset = Math.Max(logStartOffset, segment.BaseOffset);
            if (segment.TimeIndex.TryFloor(timestamp, strict: true, out _, out var relative))
            {
                fromOffset = Math.Max(fromOffset, segment.BaseOffset + relative);
            }

            var found = FindInSegment(segment, fromOffset, logEndOffset, (in RecordBatchHeader h) => h.MaxTimestamp >= timestamp, timestamp, exact: false, logStartOffset);
            if (found is not null)
            {
                return found;
            }
        }

        return null;
    }

    private TimestampAndOffset? MaxTimestampOffset()
    {
        LogSegment? best = null;
        foreach (var segment in Volatile.Read(ref _segments))
        {
            if (segment.MaxTimestamp >= 0 && (best is null || segment.MaxTimestamp > best.MaxTimestamp))
            {
                best = segment;
            }
        }

        if (best is null)
        {
            return null;
        }

        var maxTimestamp = best.MaxTimestamp;
        var offset = best.OffsetOfMaxTimestamp;
        return FindInSegment(best, offset, LogEndOffset, (in RecordBatchHeader h) => h.LastOffset >= offset, maxTimestamp, exact: true, LogStartOffset)
            ?? new TimestampAndOffset(offset, maxTimestamp, _epochs.EpochAt(offset));
    }

    private delegate bool BatchPredicate(in RecordBatchHeader header);

    /// <summary>Scans the segment from the batch containing <paramref name="fromOffset"/> for the first batch matching, then looks inside it.</summary>
    private static TimestampAndOffset? FindInSegment(LogSegment segment, long fromOffset, long logEndOffset, BatchPredicate predicate, long timestamp, bool exact, long minOffset)
    {
        var size = segment.Size;
        var position = segment.FindBatchPosition(fromOffset, size);
        if (position < 0)
        {
            return null;
        }

        using var lease = segment.AcquireLog();
        using var scanner = new BatchScanner(lease.Handle, size);
        while (scanner.TryReadHeader(position, out var bytes))
        {
            var header = new RecordBatchHeader(bytes);
            if (header.BaseOffset >= logEndOffset)
            {
                return null;
            }

            var total = header.TotalSize;
            if (!predicate(header))
            {
                position += total;
                continue;
            }

            var epoch = header.PartitionLeaderEpoch;
            var buffer = ArrayPool<byte>.Shared.Rent(total);
            try
            {
                var batch = buffer.AsSpan(0, total);
                if (segment.Read(batch, position) != total)
                {
                    return null;
                }

                var (offset, ts) = RecordTimestamps.Find(batch, timestamp, exact, minOffset);
                return new TimestampAndOffset(offset, ts, epoch);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        return null;
    }
}
