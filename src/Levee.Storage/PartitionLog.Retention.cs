using Microsoft.Extensions.Logging;

namespace Levee.Storage;

public sealed partial class PartitionLog
{
    /// <summary>
    /// DeleteRecords: moves <see cref="LogStartOffset"/> forward to <paramref name="offset"/> and deletes the
    /// segments wholly below it. Returns the new log start offset (the low watermark of the response).
    /// </summary>
    /// <exception cref="OffsetOutOfRangeException"><paramref name="offset"/> is beyond the high watermark.</exception>
    public long DeleteRecordsBefore(long offset)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            if (offset > HighWatermark || offset < 0)
            {
                throw new OffsetOutOfRangeException(TopicPartition, offset, LogStartOffset, HighWatermark);
            }

            if (offset > _logStartOffset)
            {
                Volatile.Write(ref _logStartOffset, offset);
                _epochs.TruncateFromStart(offset);
                var start = offset;
                DeleteOldSegments((_, next) => next is not null && next.BaseOffset <= start, "log start offset");
            }

            return _logStartOffset;
        }
    }

    /// <summary>
    /// Applies retention.ms (segments whose newest timestamp is older) and retention.bytes (oldest segments while the
    /// log is larger) when <c>cleanup.policy</c> holds <c>delete</c>, and the log start offset (segments wholly below it), as Kafka's deleteOldSegments does.
    /// Only segments wholly below the high watermark go. The active segment is deleted only when it qualifies
    /// and everything in it is committed: a new empty segment is rolled first, so the log always has one.
    /// Returns the number of segments deleted.
    /// </summary>
    public int ApplyRetention(long nowMs)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return 0;
            }

            var config = _config;
            var deleted = 0;
            var start = _logStartOffset;
            deleted += DeleteOldSegments((_, next) => next is not null && next.BaseOffset <= start, "log start offset");
            if (config.Delete && config.RetentionMs >= 0)
            {
                deleted += DeleteOldSegments((segment, _) => nowMs - LargestTimestamp(segment) > config.RetentionMs, "retention.ms");
            }

            if (config.Delete && config.RetentionBytes >= 0)
            {
                var excess = Size - config.RetentionBytes;
                deleted += DeleteOldSegments(
                    (segment, _) =>
                    {
                        if (excess - segment.Size < 0)
                        {
                            return false;
                        }

                        excess -= segment.Size;
                        return true;
                    },
                    "retention.bytes");
            }

            return deleted;
        }
    }

    /// <summary>A segment's newest timestamp; without timestamps, its file's last modification (as Kafka).</summary>
    private static long LargestTimestamp(LogSegment segment)
    {
        var max = segment.MaxTimestamp;
        return max >= 0 ? max : new DateTimeOffset(File.GetLastWriteTimeUtc(segment.LogPath)).ToUnixTimeMilliseconds();
    }

    /// <summary>Deletes the longest prefix of segments satisfying <paramref name="predicate"/>. Caller holds the lock.</summary>
    private int DeleteOldSegments(Func<LogSegment, LogSegment?, bool> predicate, string reason)
    {
        var segments = _segments;
        var highWatermark = HighWatermark;
        var count = 0;
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            var next = i + 1 < segments.Length ? segments[i + 1] : null;
            var committed = next is not null
                ? next.BaseOffset <= highWatermark
                : segment.Size > 0 && highWatermark >= _logEndOffset;
            if (!committed || !predicate(segment, next))
            {
                break;
            }

            count++;
        }

        if (count == 0)
        {
            return 0;
        }

        if (count == segments.Length)
        {
            Roll(_logEndOffset);
        }

        var remaining = _segments[count..];
        Volatile.Write(ref _segments, remaining);
        for (var i = 0; i < count; i++)
        {
            LogSegmentDeleted(_logger, TopicPartition, segments[i].BaseOffset, reason);
            ScheduleDelete(segments[i]);
        }

        var newStart = Math.Max(_logStartOffset, remaining[0].BaseOffset);
        if (newStart != _logStartOffset)
        {
            Volatile.Write(ref _logStartOffset, newStart);
            _epochs.TruncateFromStart(newStart);
        }

        return count;
    }

    /// <summary>
    /// Renames a removed segment's files <c>.deleted</c> and deletes them after file.delete.delay.ms, keeping the
    /// handles open meanwhile so reads already handed out still complete. Caller holds the lock.
    /// </summary>
    private void ScheduleDelete(LogSegment segment)
    {
        try
        {
            segment.MarkDeleted();
        }
        catch (IOException e)
        {
            LogDeleteFailed(_logger, TopicPartition, segment.BaseOffset, e);
        }

        var delayMs = _config.FileDeleteDelayMs;
        if (delayMs == 0)
        {
            segment.DeleteFiles();
            return;
        }

        _pendingDeletes.Add(segment);
        _ = DeleteLaterAsync(segment, delayMs);
    }

    private async Task DeleteLaterAsync(LogSegment segment, long delayMs)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(delayMs), _time).ConfigureAwait(false);
        lock (_lock)
        {
            if (_pendingDeletes.Remove(segment))
            {
                segment.DeleteFiles();
            }
        }
    }

    [LoggerMessage(EventName = "SegmentDeleted", Level = LogLevel.Information, Message = "Deleting segment {BaseOffset} of {TopicPartition} ({Reason})")]
    private static partial void LogSegmentDeleted(ILogger logger, TopicPartition topicPartition, long baseOffset, string reason);

    [LoggerMessage(EventName = "DeleteFailed", Level = LogLevel.Warning, Message = "Renaming segment {BaseOffset} of {TopicPartition} for deletion failed")]
    private static partial void LogDeleteFailed(ILogger logger, TopicPartition topicPartition, long baseOffset, Exception exception);
}
