using System.Buffers.Binary;
using Levee.Protocol;
using Levee.Protocol.Records;
using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;

namespace Levee.Storage;

public sealed partial class PartitionLog
{
    /// <summary>
    /// Appends one or more already-validated record batches (back to back) as the partition leader. Each batch's
    /// base offset and partition leader epoch are written into <paramref name="batches"/> in place (both outside
    /// the CRC), assigning consecutive offsets from <see cref="LogEndOffset"/>; the bytes are then stored exactly.
    /// Rolls the active segment first when it would exceed <c>segment.bytes</c>, is older than <c>segment.ms</c>,
    /// or its index is full.
    /// </summary>
    /// <param name="batches">The batches; modified in place.</param>
    /// <param name="leaderEpoch">The leader epoch to stamp.</param>
    /// <param name="useLogAppendTime">
    /// For <c>message.timestamp.type=LogAppendTime</c>: set the timestamp type bit and the max timestamp to the
    /// broker's clock and recompute the CRC (these fields are inside it).
    /// </param>
    /// <exception cref="ArgumentException">The bytes are not whole v2 batches.</exception>
    /// <exception cref="ProducerStateException">A producer's batch is refused (sequence, epoch, transaction state).</exception>
    public LogAppendInfo AppendAsLeader(Span<byte> batches, int leaderEpoch, bool useLogAppendTime = false) =>
        AppendAsLeader(batches, leaderEpoch, AppendOrigin.Client, useLogAppendTime);

    /// <summary>
    /// Appends batches as the partition leader, as <see cref="AppendAsLeader(Span{byte}, int, bool)"/>, for
    /// <paramref name="origin"/>: a <see cref="AppendOrigin.Coordinator"/> append (a coordinator's transactional
    /// batches with base sequence -1, or a transaction marker) has its producer epochs checked (and a marker's
    /// coordinator epoch) but no sequence.
    /// </summary>
    /// <param name="batches">The batches; modified in place.</param>
    /// <param name="leaderEpoch">The leader epoch to stamp.</param>
    /// <param name="origin">Who appends: decides the producer checks.</param>
    /// <param name="useLogAppendTime">For <c>message.timestamp.type=LogAppendTime</c>.</param>
    /// <exception cref="ArgumentException">The bytes are not whole v2 batches.</exception>
    /// <exception cref="ProducerStateException">A producer's batch is refused (sequence, epoch, transaction state, coordinator epoch).</exception>
    public LogAppendInfo AppendAsLeader(Span<byte> batches, int leaderEpoch, AppendOrigin origin, bool useLogAppendTime = false)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            var now = NowMs;

            // A full disk refuses the append before the producer checks: every batch of a producer's pipeline is then
            // refused alike (retriable), instead of the ones after the first being answered out of sequence, which
            // makes an idempotent client bump its epoch at every round until space is freed.
            CheckSpace(batches.Length, _logEndOffset, now);

            // Idempotent producers (KIP-98): check sequences and epochs before anything is written, under the same
            // lock as the append, so that check and append are one step per partition.
            if (CheckProducerBatchesWhileWritesFail(batches, origin, now, out var duplicate))
            {
                return new LogAppendInfo(
                    duplicate.FirstOffset,
                    duplicate.LastOffset,
                    duplicate.Timestamp,
                    duplicate.LastOffset,
                    useLogAppendTime ? duplicate.Timestamp : -1,
                    LogStartOffset,
                    -1,
                    -1,
                    0,
                    0,
                    0)
                { IsDuplicate = true };
            }

            var next = _logEndOffset;
            var first = next;
            long maxTimestamp = -1, offsetOfMaxTimestamp = -1, records = 0;
            var count = 0;
            var position = 0;
            while (position < batches.Length)
            {
                var batch = batches[position..];
                var total = CheckBatchBounds(batch, position);
                batch = batch[..total];
                BinaryPrimitives.WriteInt64BigEndian(batch[RecordBatchHeader.BaseOffsetPosition..], next);
                BinaryPrimitives.WriteInt32BigEndian(batch[RecordBatchHeader.PartitionLeaderEpochPosition..], leaderEpoch);
                if (useLogAppendTime)
                {
                    RecordBatchRewriter.SetLogAppendTime(batch, now);
                }

                var header = new RecordBatchHeader(batch);
                var lastOffset = header.LastOffset;
                if (header.MaxTimestamp > maxTimestamp)
                {
                    maxTimestamp = header.MaxTimestamp;
                    offsetOfMaxTimestamp = lastOffset;
                }

                records += header.RecordCount;
                count++;
                next = lastOffset + 1;
                position += total;
            }

            if (count == 0)
            {
                throw new ArgumentException("Nothing to append.", nameof(batches));
            }

            var (segmentBase, filePosition) = AppendLocked(batches, first, next - 1, now);
            _epochs.Assign(leaderEpoch, first);
            ApplyProducerBatches(batches);
            CompleteAppend(first, now);
            return new LogAppendInfo(
                first,
                next - 1,
                maxTimestamp,
                offsetOfMaxTimestamp,
                useLogAppendTime ? now : -1,
                LogStartOffset,
                segmentBase,
                filePosition,
                batches.Length,
                count,
                records);
        }
    }

    /// <summary>
    /// Appends batches as a follower: offsets and leader epochs are kept as given (the leader assigned them).
    /// The first batch must start at or after <see cref="LogEndOffset"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The bytes are not whole v2 batches or offsets go backwards.</exception>
    public LogAppendInfo AppendAsFollower(ReadOnlySpan<byte> batches)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            var now = NowMs;
            var expected = _logEndOffset;
            long first = -1, maxTimestamp = -1, offsetOfMaxTimestamp = -1, records = 0;
            var count = 0;
            var position = 0;
            while (position < batches.Length)
            {
                var batch = batches[position..];
                var total = CheckBatchBounds(batch, position);
                var header = new RecordBatchHeader(batch);
                if (header.BaseOffset < expected || header.LastOffsetDelta < 0)
                {
                    throw new ArgumentException(
                        $"Follower append to {TopicPartition}: batch at {header.BaseOffset}..{header.LastOffset} is below the expected offset {expected}.",
                        nameof(batches));
                }

                if (first < 0)
                {
                    first = header.BaseOffset;
                }

                if (header.MaxTimestamp > maxTimestamp)
                {
                    maxTimestamp = header.MaxTimestamp;
                    offsetOfMaxTimestamp = header.LastOffset;
                }

                records += header.RecordCount;
                count++;
                expected = header.LastOffset + 1;
                position += total;
            }

            if (count == 0)
            {
                throw new ArgumentException("Nothing to append.", nameof(batches));
            }

            CheckSpace(batches.Length, first, now);
            var (segmentBase, filePosition) = AppendLocked(batches, first, expected - 1, now);
            ApplyProducerBatches(batches);

            // Epoch history follows the leader's stamps (Kafka assigns per batch on the follower).
            position = 0;
            while (position < batches.Length)
            {
                var header = new RecordBatchHeader(batches[position..]);
                _epochs.Assign(header.PartitionLeaderEpoch, header.BaseOffset);
                position += header.TotalSize;
            }

            CompleteAppend(first, now);
            return new LogAppendInfo(first, expected - 1, maxTimestamp, offsetOfMaxTimestamp, -1, LogStartOffset, segmentBase, filePosition, batches.Length, count, records);
        }
    }

    private static int CheckBatchBounds(ReadOnlySpan<byte> batch, int position)
    {
        if (batch.Length < RecordBatchHeader.Size)
        {
            throw new ArgumentException($"Truncated record batch header at byte {position}.", nameof(batch));
        }

        var header = new RecordBatchHeader(batch);
        var batchLength = header.BatchLength;
        if (batchLength < RecordBatchHeader.Size - RecordBatchHeader.LogOverhead || batchLength > batch.Length - RecordBatchHeader.LogOverhead)
        {
            throw new ArgumentException($"Record batch at byte {position} has length {batchLength}, {batch.Length} bytes available.", nameof(batch));
        }

        if (header.Magic != 2)
        {
            throw new ArgumentException($"Record batch at byte {position} has magic {header.Magic}; only 2 is stored.", nameof(batch));
        }

        return header.TotalSize;
    }

    /// <summary>
    /// Rolls if needed, writes, indexes, publishes the end offset. Caller holds the lock. A write that fails (a full
    /// disk) leaves the log as it was: what part of the batches reached the file is cut off again, giving its space
    /// back, and the failure is logged if it starts a run of them.
    /// </summary>
    private (long SegmentBase, long Position) AppendLocked(ReadOnlySpan<byte> batches, long firstOffset, long lastOffset, long now)
    {
        var config = _config;
        LogSegment? segment = null;
        int position;
        try
        {
            segment = MaybeRoll(batches.Length, firstOffset, lastOffset, now, config);
            position = segment.Append(batches, config.IndexIntervalBytes, now);
        }
        catch (IOException e)
        {
            segment?.TruncateToSize();
            OnAppendFailed(e, firstOffset, now);
            throw;
        }

        // Readers bound themselves by this; the bytes and the segment's size are already published.
        Volatile.Write(ref _logEndOffset, lastOffset + 1);
        return (segment.BaseOffset, position);
    }

    /// <summary>Refuses an append that would take the reserve kept for the metadata log (partition data only). Caller holds the lock.</summary>
    private void CheckSpace(int bytes, long offset, long now)
    {
        try
        {
            _space?.CheckDataAppend(bytes);
        }
        catch (IOException e)
        {
            OnAppendFailed(e, offset, now);
            throw;
        }
    }

    /// <summary>
    /// <see cref="CheckProducerBatches"/>, except that while appends fail (a full disk) a batch out of sequence is
    /// refused as the failing ones are: the gap in its producer's sequence is the batch this log refused before it,
    /// which the client sends again, in order, when it is told to retry this one too. Caller holds the lock.
    /// </summary>
    private bool CheckProducerBatchesWhileWritesFail(ReadOnlySpan<byte> batches, AppendOrigin origin, long now, out BatchMetadata duplicate)
    {
        try
        {
            return CheckProducerBatches(batches, origin, out duplicate);
        }
        catch (ProducerStateException e) when (e.ErrorCode == ErrorCode.OutOfOrderSequenceNumber && _appendFailures.IsFailing)
        {
            var refused = new IOException($"Appends to {TopicPartition} are failing: this batch is refused like the one before it ({e.Message}).", e);
            OnAppendFailed(refused, _logEndOffset, now);
            throw refused;
        }
    }

    /// <summary>
    /// After an append whose epoch and producer state are recorded: honours flush.messages, and ends a run of failed
    /// appends. Caller holds the lock. A flush that fails fails the append, as in Kafka, but the records stay in the log
    /// and in the producer state, so an idempotent producer's retry is answered as the duplicate it is.
    /// </summary>
    private void CompleteAppend(long firstOffset, long now)
    {
        if (_logEndOffset - RecoveryPoint >= _config.FlushMessages)
        {
            try
            {
                Flush();
            }
            catch (IOException e)
            {
                OnAppendFailed(e, firstOffset, now);
                throw;
            }
        }

        if (_appendFailures.Succeeded(now) is { } run)
        {
            LogAppendsResumed(_logger, TopicPartition, run.DurationMs, run.Failures);
        }
    }

    private void OnAppendFailed(IOException e, long offset, long now)
    {
        if (DiskSpace.IsOutOfSpace(e))
        {
            // Something filled the disk to the last byte: the metadata log may need part of the reserve now.
            _space?.Maintain();
        }

        if (_appendFailures.Failed(now).Kind == FailureNoteKind.Started)
        {
            LogAppendsFailing(_logger, TopicPartition, offset, DiskSpace.Describe(e), DiskSpace.StackTraceWorthy(e));
        }
    }

    private LogSegment MaybeRoll(int size, long firstOffset, long lastOffset, long now, LogConfig config)
    {
        var segment = ActiveSegment;
        if (segment.Size == 0)
        {
            // An empty active segment is reused unless the new offsets cannot be expressed relative to its base
            // (a follower jumping ahead, or an offset gap from a truncation): then it is replaced.
            if (firstOffset != segment.BaseOffset && (lastOffset - segment.BaseOffset > int.MaxValue || firstOffset < segment.BaseOffset))
            {
                return Roll(firstOffset);
            }

            return segment;
        }

        var reason =
            (long)segment.Size + size > config.SegmentBytes ? "size"
            : segment.RollBaseMs >= 0 && now - segment.RollBaseMs > config.SegmentMs ? "age"
            : segment.IndexesFull ? "index full"
            : lastOffset - segment.BaseOffset > int.MaxValue ? "offset overflow"
            : null;
        if (reason is null)
        {
            return segment;
        }

        LogRolled(_logger, TopicPartition, firstOffset, reason);
        return Roll(firstOffset);
    }

    /// <summary>Makes a new active segment at <paramref name="baseOffset"/>. Caller holds the lock.</summary>
    private LogSegment Roll(long baseOffset)
    {
        var old = ActiveSegment;
        try
        {
            old.OnBecomeInactive();
        }
        catch (IOException e) when (DiskSpace.IsOutOfSpace(e))
        {
            // Its index entries stay in memory, to be written by its flush or the close: a full disk does not stop
            // the roll (nor the retention that rolls to free space).
        }

        var segments = _segments;
        if (old.Size == 0)
        {
            // Nothing in it: replace rather than keep an empty segment in the middle.
            segments = segments[..^1];
            old.DeleteFiles();
        }

        var created = LogSegment.Create(Directory, baseOffset, _config, _fileCache);
        Volatile.Write(ref _segments, [.. segments, created]);

        // As Kafka: a producer snapshot at each roll bounds what recovery must replay to the active segment.
        if (TakeProducerSnapshot() is { } failure)
        {
            LogProducerSnapshotFailed(_logger, TopicPartition, _logEndOffset, DiskSpace.Describe(failure), DiskSpace.StackTraceWorthy(failure));
        }

        // Kafka flushes the rolled segment in the background; this is what moves the recovery point forward
        // when flush.ms / flush.messages are off (the default), so a crash only rescans the active segment.
        if (old.Size > 0)
        {
            _ = Task.Run(() =>
            {
                try
                {
                    FlushUpTo(baseOffset);
                }
                catch (IOException e)
                {
                    LogFlushFailed(_logger, TopicPartition, DiskSpace.Describe(e), DiskSpace.StackTraceWorthy(e));
                }
            });
        }

        return created;
    }

    /// <summary>
    /// This replica leads the partition from <paramref name="epoch"/> on: the epoch starts at the log end now, before
    /// any append, as Kafka's leader assigns it at election. A follower that asks where its own last epoch ends
    /// (KIP-320) then learns it even while the new leader has written nothing, so its divergent tail is truncated
    /// before it fetches past it.
    /// </summary>
    public void BeginLeaderEpoch(int epoch)
    {
        lock (_lock)
        {
            // A log closed under a stopping broker or a deleted replica has no leader any more.
            if (!_disposed)
            {
                _epochs.Begin(epoch, _logEndOffset);
            }
        }
    }

    /// <summary>
    /// Removes everything at and after <paramref name="offset"/> (follower truncation, OffsetForLeaderEpoch).
    /// The cut is at a batch boundary: the batch containing <paramref name="offset"/> goes too, and
    /// <see cref="LogEndOffset"/> becomes the end of the last whole batch kept. Below the log start offset
    /// the log is emptied and restarts at <paramref name="offset"/>.
    /// </summary>
    public void TruncateTo(long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        lock (_lock)
        {
            ThrowIfDisposed();
            if (offset >= _logEndOffset)
            {
                // No record goes, but an epoch this replica began as leader at its log end and never wrote to does:
                // kept, it would make the follower name an epoch the leader never had, and get the same diverging
                // answer for ever (Kafka truncates its epoch cache here too).
                _epochs.TruncateFromEnd(_logEndOffset);
                return;
            }

            var segments = _segments;
            if (offset < _logStartOffset)
            {
                var created = LogSegment.Create(Directory, offset, _config, _fileCache);
                Volatile.Write(ref _segments, [created]);
                foreach (var segment in segments)
                {
                    ScheduleDelete(segment);
                }

                Volatile.Write(ref _logStartOffset, offset);
                Volatile.Write(ref _logEndOffset, offset);
                _epochs.Clear();
            }
            else
            {
                var keep = Math.Max(0, FloorSegment(segments, offset));
                Volatile.Write(ref _segments, segments[..(keep + 1)]);
                for (var i = segments.Length - 1; i > keep; i--)
                {
                    ScheduleDelete(segments[i]);
                }

                var active = segments[keep];
                active.TruncateTo(offset, _config.IndexIntervalBytes);
                Volatile.Write(ref _logEndOffset, active.NextOffset);
                _epochs.TruncateFromEnd(active.NextOffset);
            }

            var end = _logEndOffset;
            ReloadProducerState();
            Volatile.Write(ref _highWatermark, Math.Min(_highWatermark, end));
            Volatile.Write(ref _recoveryPoint, Math.Min(RecoveryPoint, end));
            LogTruncated(_logger, TopicPartition, offset, end);
        }
    }

    [LoggerMessage(EventName = "Rolled", Level = LogLevel.Information, Message = "Rolled {TopicPartition} to a new segment at offset {BaseOffset} ({Reason})")]
    private static partial void LogRolled(ILogger logger, TopicPartition topicPartition, long baseOffset, string reason);

    [LoggerMessage(EventName = "FlushFailed", Level = LogLevel.Warning, Message = "Background flush of {TopicPartition} failed ({Problem}); the next flush tries again")]
    private static partial void LogFlushFailed(ILogger logger, TopicPartition topicPartition, string problem, Exception? exception);

    [LoggerMessage(EventName = "AppendsFailing", Level = LogLevel.Warning, Message = "Appends to {TopicPartition} fail from offset {Offset} ({Problem}): each is refused until one succeeds, which is logged too")]
    private static partial void LogAppendsFailing(ILogger logger, TopicPartition topicPartition, long offset, string problem, Exception? exception);

    [LoggerMessage(EventName = "AppendsResumed", Level = LogLevel.Information, Message = "Appends to {TopicPartition} succeed again after {DurationMs} ms; {Refused} were refused meanwhile")]
    private static partial void LogAppendsResumed(ILogger logger, TopicPartition topicPartition, long durationMs, long refused);

    [LoggerMessage(EventName = "Truncated", Level = LogLevel.Information, Message = "Truncated {TopicPartition} to offset {Offset}; log end offset now {LogEndOffset}")]
    private static partial void LogTruncated(ILogger logger, TopicPartition topicPartition, long offset, long logEndOffset);
}
