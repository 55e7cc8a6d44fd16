using Levee.Protocol;
using Levee.Protocol.Records;
using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;

namespace Levee.Storage;

/// <summary>
/// The idempotent and transactional producer side of the log (KIP-98): the <see cref="ProducerStateManager"/> is
/// checked before a leader append and updated after every append, snapshotted on segment roll and on close, and
/// rebuilt on open and after truncation from the newest snapshot at or below the log end plus the batches after it.
/// Transactions: markers (<see cref="AppendMarkerAsLeader"/>), the last stable offset, and each segment's
/// transaction index of aborted transactions (<see cref="CollectAbortedTransactions"/>).
/// </summary>
public sealed partial class PartitionLog
{
    // The transactions holding the last stable offset back, by first offset: republished (never mutated) under the
    // lock whenever the producer state's set changes, read without it.
    private UnstableTxn[] _unstableTxns = [];

    /// <summary>
    /// The last stable offset (KIP-98): read_committed consumers read below it. The high watermark, or the first
    /// offset of the earliest transaction that is open, or completed with its marker not yet below the high
    /// watermark, if that is lower (never below the log start offset). Lock-free: computed from the published
    /// transactions and the current high watermark, so it moves with the high watermark at once.
    /// </summary>
    public long LastStableOffset
    {
        get
        {
            var highWatermark = HighWatermark;
            foreach (var txn in Volatile.Read(ref _unstableTxns))
            {
                if (txn.LastOffset >= highWatermark)
                {
                    return Math.Max(LogStartOffset, Math.Min(highWatermark, txn.FirstOffset));
                }
            }

            return highWatermark;
        }
    }

    /// <summary>
    /// Writes a transaction marker (KIP-98) as the leader: one control batch for <paramref name="producerId"/> at
    /// <paramref name="producerEpoch"/>, COMMIT or ABORT, stamped with <paramref name="coordinatorEpoch"/> and the
    /// current time. It ends the producer's open transaction, if any (an ABORT adds it to the transaction index); a
    /// marker for a producer with no open transaction is written all the same, as Kafka does.
    /// </summary>
    /// <exception cref="ProducerStateException">
    /// <see cref="ErrorCode.InvalidProducerEpoch"/> when <paramref name="producerEpoch"/> is older than the producer's;
    /// <see cref="ErrorCode.TransactionCoordinatorFenced"/> when <paramref name="coordinatorEpoch"/> is older than the
    /// last seen for the producer.
    /// </exception>
    public LogAppendInfo AppendMarkerAsLeader(long producerId, short producerEpoch, bool commit, int coordinatorEpoch, int leaderEpoch)
    {
        var batch = new EndTransactionMarker(commit, coordinatorEpoch).ToBatch(producerId, producerEpoch, NowMs);
        return AppendAsLeader(batch, leaderEpoch, AppendOrigin.Coordinator);
    }

    /// <summary>
    /// The aborted transactions a read_committed fetch from <paramref name="startOffset"/> up to
    /// <paramref name="upperBoundOffset"/> (exclusive) must know of: every one whose marker is at or after the start
    /// and whose first offset is below the bound, in marker order (Kafka's collectAbortedTransactions). Lock-free.
    /// </summary>
    public IReadOnlyList<AbortedTxn> CollectAbortedTransactions(long startOffset, long upperBoundOffset)
    {
        var result = new List<AbortedTxn>();
        var segments = Volatile.Read(ref _segments);
        for (var i = Math.Max(0, FloorSegment(segments, startOffset)); i < segments.Length; i++)
        {
            foreach (var entry in segments[i].TxnIndex.Entries)
            {
                if (entry.LastOffset >= startOffset && entry.FirstOffset < upperBoundOffset)
                {
                    result.Add(new AbortedTxn(entry.ProducerId, entry.FirstOffset));
                }

                // Every transaction still open when this one ended started at or after its last stable offset, and
                // every later one after it: none below the bound is left.
                if (entry.LastStableOffset >= upperBoundOffset)
                {
                    return result;
                }
            }
        }

        return result;
    }

    /// <summary>Whether <paramref name="producerId"/> has a transaction open on this partition (its first transactional batch here is behind it).</summary>
    public bool HasOpenTransaction(long producerId)
    {
        lock (_lock)
        {
            return _producers.TryGet(producerId, out var entry) && entry.CurrentTxnFirstOffset >= 0;
        }
    }

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
    /// <exception cref="ProducerStateException">A batch is out of sequence, from a fenced epoch, or breaks its producer's transaction.</exception>
    private bool CheckProducerBatches(ReadOnlySpan<byte> batches, AppendOrigin origin, out BatchMetadata duplicate)
    {
        duplicate = default;
        _producers.BeginClientAppend();
        var position = 0;
        var offset = _logEndOffset;
        while (position < batches.Length)
        {
            var total = CheckBatchBounds(batches[position..], position);
            var header = new RecordBatchHeader(batches[position..]);
            if (header.IsControl)
            {
                // Only a coordinator writes control batches (clients' are refused by the validator).
                if (header.ProducerId >= 0 && EndTransactionMarker.TryRead(batches[position..], out var marker))
                {
                    _producers.CheckMarker(header.ProducerId, header.ProducerEpoch, marker, offset);
                }
            }
            else if (header.ProducerId >= 0)
            {
                var lastSequence = BatchMetadata.IncrementSequence(header.BaseSequence, header.LastOffsetDelta);
                if (_producers.CheckClientBatch(header.ProducerId, header.ProducerEpoch, header.BaseSequence, lastSequence, header.IsTransactional, origin, offset, out duplicate))
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

    /// <summary>
    /// Records appended batches (offsets assigned) in the producer state; a transaction aborted by one of them goes to
    /// the transaction index of the segment they were appended to (the active one). Caller holds the lock.
    /// </summary>
    private void ApplyProducerBatches(ReadOnlySpan<byte> batches)
    {
        var position = 0;
        while (position < batches.Length)
        {
            var batch = batches[position..];
            var header = new RecordBatchHeader(batch);
            if (ApplyProducerBatch(header, batch) is { } aborted)
            {
                ActiveSegment.TxnIndex.Append(aborted);
            }

            position += header.TotalSize;
        }

        _producers.MapEndOffset = _logEndOffset;
        PublishUnstableTransactions();
    }

    /// <summary>Applies one batch; <paramref name="batch"/> holds at least its bytes when it is a control batch. Caller holds the lock.</summary>
    private AbortedTxnEntry? ApplyProducerBatch(RecordBatchHeader header, ReadOnlySpan<byte> batch)
    {
        if (!header.IsControl)
        {
            return _producers.Apply(header);
        }

        return EndTransactionMarker.TryRead(batch, out var marker) ? _producers.Apply(header, marker) : null;
    }

    /// <summary>
    /// Forgets the completed transactions now below the high watermark and republishes the set for
    /// <see cref="LastStableOffset"/> if it changed. Caller holds the lock.
    /// </summary>
    private void PublishUnstableTransactions()
    {
        _producers.RemoveStableBelow(HighWatermark);
        if (_producers.UnstableChanged)
        {
            Volatile.Write(ref _unstableTxns, _producers.UnstableTransactions());
        }
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
    /// after it (headers only; a control batch is read whole for its marker), then expiration. Used on open (after
    /// the log's own recovery truncated any torn tail) and after truncation. Caller holds the lock or owns the log
    /// exclusively.
    /// </summary>
    /// <param name="rebuildTxnIndexFrom">
    /// The transaction indexes of the segments from this base offset on are rebuilt from the markers replayed (those
    /// recovery re-read after an unclean stop): the snapshot is then taken at or below it, as Kafka's log loader does,
    /// so every marker of those segments is replayed. <see cref="long.MaxValue"/>: the indexes are trusted.
    /// </param>
    private void ReloadProducerState(long rebuildTxnIndexFrom = long.MaxValue)
    {
        var end = _logEndOffset;
        var from = _producers.LoadLatestSnapshot(Math.Min(end, rebuildTxnIndexFrom), (path, e) => LogProducerSnapshotCorrupt(_logger, TopicPartition, path, e));
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

            var rebuildTxnIndex = segment.BaseOffset >= rebuildTxnIndexFrom;
            if (rebuildTxnIndex)
            {
                segment.TxnIndex.Reset();
            }

            using var lease = segment.AcquireLog();
            var scanner = new BatchScanner(lease.Handle, segment.Size);
            try
            {
                long position = 0;
                while (scanner.TryReadHeader(position, out var bytes))
                {
                    var header = new RecordBatchHeader(bytes);
                    if (header.LastOffset >= from && header.ProducerId >= 0)
                    {
                        var batch = bytes;
                        if (header.IsControl)
                        {
                            // Markers are small and rare: read the whole batch for its record.
                            var whole = new byte[header.TotalSize];
                            SparseIndex.ReadFully(lease.Handle, whole, position);
                            batch = whole;
                        }

                        if (ApplyProducerBatch(new RecordBatchHeader(batch), batch) is { } aborted && rebuildTxnIndex)
                        {
                            segment.TxnIndex.Append(aborted);
                        }

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
        PublishUnstableTransactions();
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
