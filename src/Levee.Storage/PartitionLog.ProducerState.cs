using Levee.Protocol.Records;
using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;

namespace Levee.Storage;

/// <summary>
/// The idempotent-producer side of the log (KIP-98): the <see cref="ProducerStateManager"/> is checked before a
/// leader append and updated after every append, snapshotted on segment roll and on close, and rebuilt on open and
/// after truncation from the newest snapshot at or below the log end plus the batches after it.
/// </summary>
public sealed partial class PartitionLog
{
    /// <summary>The producers with state on this partition (copies; DescribeProducers).</summary>
    public IReadOnlyList<ActiveProducer> ActiveProducers()
    {
        lock (_lock)
        {
            return _producers.ActiveProducers();
        }
    }

    /// <summary>Removes producers idle for <c>producer.id.expiration.ms</c>. Returns how many went.</summary>
    public int RemoveExpiredProducers(long nowMs)
    {
        lock (_lock)
        {
            return _disposed ? 0 : _producers.RemoveExpired(nowMs, _config.ProducerIdExpirationMs);
        }
    }

    /// <summary>
    /// Checks every batch carrying a producer id against the producer state, before anything is written. True when
    /// the append is a retry of a cached batch: <paramref name="duplicate"/> is the original. Caller holds the lock.
    /// </summary>
    /// <exception cref="ProducerStateException">A batch is out of sequence or from a fenced epoch.</exception>
    private bool CheckProducerBatches(ReadOnlySpan<byte> batches, out BatchMetadata duplicate)
    {
        duplicate = default;
        _producers.BeginClientAppend();
        var position = 0;
        var offset = _logEndOffset;
        while (position < batches.Length)
        {
            var total = CheckBatchBounds(batches[position..], position);
            var header = new RecordBatchHeader(batches[position..]);
            if (header.ProducerId >= 0 && !header.IsControl)
            {
                var lastSequence = BatchMetadata.IncrementSequence(header.BaseSequence, header.LastOffsetDelta);
                if (_producers.CheckClientBatch(header.ProducerId, header.ProducerEpoch, header.BaseSequence, lastSequence, offset, out duplicate))
                {
                    // As Kafka: the first duplicate answers for the whole append (an idempotent producer sends one batch per partition).
                    return true;
                }
            }

            offset += header.LastOffsetDelta + 1;
            position += total;
        }

        return false;
    }

    /// <summary>Records appended batches (offsets assigned) in the producer state. Caller holds the lock.</summary>
    private void ApplyProducerBatches(ReadOnlySpan<byte> batches)
    {
        var position = 0;
        while (position < batches.Length)
        {
            var header = new RecordBatchHeader(batches[position..]);
            _producers.Apply(header);
            position += header.TotalSize;
        }

        _producers.MapEndOffset = _logEndOffset;
    }

    /// <summary>
    /// Writes a producer snapshot at the log end offset (segment roll, close). Returns the failure rather than
    /// throwing it: the state stays in memory and recovery replays from an older snapshot. Caller holds the lock.
    /// </summary>
    private Exception? TakeProducerSnapshot()
    {
        try
        {
            _producers.MapEndOffset = _logEndOffset;
            _producers.TakeSnapshot();
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e;
        }
    }

    /// <summary>
    /// Rebuilds the producer state: the newest readable snapshot at or below the log end offset, then every batch
    /// after it (headers only), then expiration. Used on open (after the log's own recovery truncated any torn
    /// tail) and after truncation. Caller holds the lock or owns the log exclusively.
    /// </summary>
    private void ReloadProducerState()
    {
        var end = _logEndOffset;
        var from = _producers.LoadLatestSnapshot(end, (path, e) => LogProducerSnapshotCorrupt(_logger, TopicPartition, path, e));
        if (from < 0)
        {
            from = _logStartOffset;
        }

        var replayed = 0;
        foreach (var segment in _segments)
        {
            if (segment.NextOffset <= from)
            {
                continue;
            }

            using var lease = segment.AcquireLog();
            var scanner = new BatchScanner(lease.Handle, segment.Size);
            try
            {
                long position = 0;
                while (scanner.TryReadHeader(position, out var bytes))
                {
                    var header = new RecordBatchHeader(bytes);
                    if (header.LastOffset >= from)
                    {
                        _producers.Apply(header);
                        replayed++;
                    }

                    position += header.TotalSize;
                }
            }
            finally
            {
                scanner.Dispose();
            }
        }

        _producers.MapEndOffset = end;
        var expired = _producers.RemoveExpired(NowMs, _config.ProducerIdExpirationMs);
        LogProducerStateLoaded(_logger, TopicPartition, from, replayed, _producers.Count, expired);
    }

    [LoggerMessage(EventName = "ProducerSnapshotFailed", Level = LogLevel.Warning, Message = "Writing the producer snapshot of {TopicPartition} at offset {Offset} failed ({Problem}); recovery replays from an older one")]
    private static partial void LogProducerSnapshotFailed(ILogger logger, TopicPartition topicPartition, long offset, string problem, Exception? exception);

    [LoggerMessage(EventName = "ProducerSnapshotCorrupt", Level = LogLevel.Warning, Message = "Producer snapshot {Path} of {TopicPartition} is unreadable; deleted it")]
    private static partial void LogProducerSnapshotCorrupt(ILogger logger, TopicPartition topicPartition, string path, Exception exception);

    [LoggerMessage(EventName = "ProducerStateLoaded", Level = LogLevel.Debug, Message = "Loaded producer state of {TopicPartition} from offset {From}: replayed {Batches} batches, {Producers} producers, {Expired} expired")]
    private static partial void LogProducerStateLoaded(ILogger logger, TopicPartition topicPartition, long from, int batches, int producers, int expired);
}
