using Levee.Protocol;
using Levee.Protocol.Records;

namespace Levee.Storage.ProducerState;

/// <summary>
/// The idempotent and transactional producers of one partition (KIP-98): per producer id its epoch, its last five
/// batches, its open transaction and the last coordinator epoch of its markers; and the transactions that hold the
/// last stable offset back. A client's batch is checked against it before it is appended
/// (<see cref="BeginClientAppend"/>, <see cref="CheckClientBatch"/>, <see cref="CheckMarker"/>) and recorded after
/// (<see cref="Apply"/>); recovery rebuilds it from the latest snapshot plus the batches after it. Not thread-safe:
/// the owning <see cref="PartitionLog"/> calls it under its lock.
/// </summary>
public sealed class ProducerStateManager
{
    /// <summary>Snapshots kept in the partition directory (Kafka keeps the recent ones; two suffice to survive one bad file).</summary>
    public const int SnapshotsKept = 2;

    private readonly Dictionary<long, ProducerStateEntry> _producers = [];
    private readonly List<(long ProducerId, short Epoch, int LastSequence, bool InTxn)> _pending = [];

    // Open transactions, and completed ones whose marker is not yet below the high watermark, by first offset
    // (Kafka's ongoingTxns and unreplicatedTxns in one map: both hold the last stable offset back).
    private readonly SortedDictionary<long, UnstableTxn> _unstable = [];

    /// <summary>Creates an empty state for the partition directory <paramref name="directory"/>.</summary>
    public ProducerStateManager(string directory)
    {
        Directory = directory;
    }

    /// <summary>Where the snapshots live.</summary>
    public string Directory { get; }

    /// <summary>The state reflects every batch below this offset.</summary>
    public long MapEndOffset { get; set; }

    /// <summary>Number of producers tracked.</summary>
    public int Count => _producers.Count;

    /// <summary>True when the set of <see cref="UnstableTransactions"/> changed since the last call (the caller republishes it).</summary>
    public bool UnstableChanged { get; private set; }

    /// <summary>The entry of a producer id, if tracked.</summary>
    public bool TryGet(long producerId, out ProducerStateEntry entry) => _producers.TryGetValue(producerId, out entry!);

    /// <summary>Copies of the tracked producers, ordered by id.</summary>
    public List<ActiveProducer> ActiveProducers() =>
        [.. _producers.Values
            .OrderBy(p => p.ProducerId)
            .Select(p => new ActiveProducer(p.ProducerId, p.ProducerEpoch, p.LastSequence, p.LastTimestamp, p.LastOffset, p.CurrentTxnFirstOffset, p.CoordinatorEpoch))];

    /// <summary>
    /// The transactions holding the last stable offset back, by first offset: every open one, and the completed ones
    /// not yet forgotten by <see cref="RemoveStableBelow"/>. Clears <see cref="UnstableChanged"/>.
    /// </summary>
    public UnstableTxn[] UnstableTransactions()
    {
        UnstableChanged = false;
        return [.. _unstable.Values];
    }

    /// <summary>Forgets the completed transactions whose marker is below <paramref name="highWatermark"/>: they are stable.</summary>
    public void RemoveStableBelow(long highWatermark)
    {
        List<long>? stable = null;
        foreach (var txn in _unstable.Values)
        {
            if (txn.LastOffset < highWatermark)
            {
                (stable ??= []).Add(txn.FirstOffset);
            }
        }

        if (stable is not null)
        {
            foreach (var first in stable)
            {
                _unstable.Remove(first);
            }

            UnstableChanged = true;
        }
    }

    /// <summary>Forgets everything (before a reload).</summary>
    public void Clear()
    {
        _producers.Clear();
        _pending.Clear();
        _unstable.Clear();
        UnstableChanged = true;
        MapEndOffset = 0;
    }

    /// <summary>Starts checking the batches of one client append (several batches of one producer may follow each other).</summary>
    public void BeginClientAppend() => _pending.Clear();

    /// <summary>
    /// Checks one data batch of a leader append, in request order, with Kafka's rules (ProducerAppendInfo):
    /// <list type="bullet">
    /// <item>same epoch and sequence range as one of the producer's cached batches (client batches only): a retry;
    /// returns true with the original batch, and the caller appends nothing and answers with the original offsets;</item>
    /// <item>epoch older than the producer's: <see cref="ErrorCode.InvalidProducerEpoch"/>;</item>
    /// <item>a non-transactional batch from a producer with an open transaction: <see cref="ErrorCode.InvalidTxnState"/>;</item>
    /// <item>client batches only: a newer epoch must start at sequence 0, else <see cref="ErrorCode.OutOfOrderSequenceNumber"/>;
    /// the same epoch must continue the sequence (0 after <see cref="int.MaxValue"/>), else
    /// <see cref="ErrorCode.OutOfOrderSequenceNumber"/>;</item>
    /// <item>an unknown producer id is accepted at any sequence: since KIP-360 (Kafka 2.5) the broker no longer
    /// answers UNKNOWN_PRODUCER_ID, because its state may have been removed by retention or expiration while the
    /// producer is still alive.</item>
    /// </list>
    /// A <see cref="AppendOrigin.Coordinator"/> batch carries base sequence -1: no sequence is checked or cached.
    /// </summary>
    /// <exception cref="ProducerStateException">The batch is refused; nothing of the append may be written.</exception>
    public bool CheckClientBatch(long producerId, short epoch, int firstSequence, int lastSequence, bool isTransactional, AppendOrigin origin, long offset, out BatchMetadata duplicate)
    {
        _producers.TryGetValue(producerId, out var entry);
        if (origin == AppendOrigin.Client && entry is not null && entry.TryFindDuplicate(epoch, firstSequence, lastSequence, out duplicate))
        {
            return true;
        }

        duplicate = default;
        var (known, currentEpoch, currentLastSequence, inTxn) = Current(producerId, entry);
        CheckEpoch(known, producerId, epoch, currentEpoch, offset);
        if (inTxn && !isTransactional)
        {
            throw new ProducerStateException(
                ErrorCode.InvalidTxnState,
                $"Expected a transactional write from producer {producerId} at offset {offset}: it has a transaction open.");
        }

        if (origin == AppendOrigin.Coordinator)
        {
            _pending.Add((producerId, epoch, epoch == currentEpoch ? currentLastSequence : -1, inTxn || isTransactional));
            return false;
        }

        if (known && epoch != currentEpoch)
        {
            if (firstSequence != 0 && currentEpoch != -1)
            {
                throw new ProducerStateException(
                    ErrorCode.OutOfOrderSequenceNumber,
                    $"Invalid sequence number for new epoch of producer {producerId} at offset {offset}: {epoch} (request epoch), {firstSequence} (seq. number), {currentEpoch} (current producer epoch).");
            }
        }
        else if (known && currentEpoch != -1 && !BatchMetadata.InSequence(currentLastSequence, firstSequence))
        {
            throw new ProducerStateException(
                ErrorCode.OutOfOrderSequenceNumber,
                $"Out of order sequence number for producer {producerId} at offset {offset}: {firstSequence} (incoming seq. number), {currentLastSequence} (current end sequence number).");
        }

        _pending.Add((producerId, epoch, lastSequence, inTxn || isTransactional));
        return false;
    }

    /// <summary>
    /// Checks a transaction marker the coordinator asks to write (Kafka's appendEndTxnMarker): an epoch older than the
    /// producer's is <see cref="ErrorCode.InvalidProducerEpoch"/>, a coordinator epoch older than the last one seen for
    /// the producer is <see cref="ErrorCode.TransactionCoordinatorFenced"/>. A producer with no open transaction is
    /// accepted (the marker completes nothing).
    /// </summary>
    /// <exception cref="ProducerStateException">The marker is refused.</exception>
    public void CheckMarker(long producerId, short epoch, EndTransactionMarker marker, long offset)
    {
        _producers.TryGetValue(producerId, out var entry);
        var (known, currentEpoch, _, _) = Current(producerId, entry);
        CheckEpoch(known, producerId, epoch, currentEpoch, offset);
        if (entry is not null && marker.CoordinatorEpoch < entry.CoordinatorEpoch)
        {
            throw new ProducerStateException(
                ErrorCode.TransactionCoordinatorFenced,
                $"Transaction marker for producer {producerId} at offset {offset} has coordinator epoch {marker.CoordinatorEpoch}, older than the last seen {entry.CoordinatorEpoch}.");
        }

        _pending.Add((producerId, epoch, -1, false));
    }

    private (bool Known, short Epoch, int LastSequence, bool InTxn) Current(long producerId, ProducerStateEntry? entry)
    {
        var pending = _pending.FindLastIndex(p => p.ProducerId == producerId);
        if (pending >= 0)
        {
            var (_, epoch, lastSequence, inTxn) = _pending[pending];
            return (true, epoch, lastSequence, inTxn);
        }

        return entry is null ? (false, (short)-1, -1, false) : (true, entry.ProducerEpoch, entry.LastSequence, entry.CurrentTxnFirstOffset >= 0);
    }

    private static void CheckEpoch(bool known, long producerId, short epoch, short currentEpoch, long offset)
    {
        if (known && epoch < currentEpoch)
        {
            throw new ProducerStateException(
                ErrorCode.InvalidProducerEpoch,
                $"Epoch of producer {producerId} at offset {offset} is {epoch}, which is smaller than the last seen epoch {currentEpoch}.");
        }
    }

    /// <summary>
    /// Records one appended batch (offsets assigned) without checking it: the leader after the checks, a follower, or
    /// recovery replaying the log. Batches without a producer id are ignored. A transactional data batch opens its
    /// producer's transaction if none is open; a batch with base sequence -1 (a coordinator's) moves the epoch but
    /// caches no sequence. A control batch needs its <paramref name="marker"/> (null: not a transaction marker, ignored):
    /// it ends the producer's open transaction, if any, and sets its epoch and coordinator epoch. Returns the entry for
    /// the transaction index when the marker aborted a transaction.
    /// </summary>
    public AbortedTxnEntry? Apply(RecordBatchHeader header, EndTransactionMarker? marker = null)
    {
        if (header.ProducerId < 0 || (header.IsControl && marker is null))
        {
            return null;
        }

        var producerId = header.ProducerId;
        if (!_producers.TryGetValue(producerId, out var entry))
        {
            entry = new ProducerStateEntry(producerId, header.ProducerEpoch);
            _producers[producerId] = entry;
        }

        if (marker is { } m)
        {
            return ApplyMarker(entry, header, m);
        }

        var firstSequence = header.BaseSequence;
        if (firstSequence >= 0)
        {
            var lastSequence = BatchMetadata.IncrementSequence(firstSequence, header.LastOffsetDelta);
            entry.AddBatch(header.ProducerEpoch, new BatchMetadata(firstSequence, lastSequence, header.BaseOffset, header.LastOffset, header.MaxTimestamp));
        }
        else
        {
            entry.UpdateEpoch(header.ProducerEpoch, header.MaxTimestamp);
        }

        if (header.IsTransactional && entry.CurrentTxnFirstOffset < 0)
        {
            entry.CurrentTxnFirstOffset = header.BaseOffset;
            _unstable[header.BaseOffset] = new UnstableTxn(producerId, header.BaseOffset, long.MaxValue);
            UnstableChanged = true;
        }

        return null;
    }

    private AbortedTxnEntry? ApplyMarker(ProducerStateEntry entry, RecordBatchHeader header, EndTransactionMarker marker)
    {
        entry.UpdateEpoch(header.ProducerEpoch, header.MaxTimestamp);
        entry.CoordinatorEpoch = marker.CoordinatorEpoch;
        var first = entry.CurrentTxnFirstOffset;
        if (first < 0)
        {
            return null;
        }

        entry.CurrentTxnFirstOffset = -1;
        var markerOffset = header.BaseOffset;

        // Kafka's lastStableOffset(completedTxn): the first offset of the earliest other open transaction, else just
        // after this marker.
        var lastStable = markerOffset + 1;
        foreach (var txn in _unstable.Values)
        {
            if (txn.ProducerId != entry.ProducerId && txn.LastOffset == long.MaxValue)
            {
                lastStable = txn.FirstOffset;
                break;
            }
        }

        _unstable[first] = new UnstableTxn(entry.ProducerId, first, markerOffset);
        UnstableChanged = true;
        return marker.Commit ? null : new AbortedTxnEntry(entry.ProducerId, first, markerOffset, lastStable);
    }

    /// <summary>
    /// Removes producers whose last batch is at least <paramref name="expirationMs"/> old (producer.id.expiration.ms),
    /// except those with a transaction open (Kafka never expires them: the coordinator aborts the transaction first).
    /// Returns how many.
    /// </summary>
    public int RemoveExpired(long nowMs, long expirationMs)
    {
        var expired = _producers.Values.Where(p => p.CurrentTxnFirstOffset < 0 && nowMs - p.LastTimestamp >= expirationMs).Select(p => p.ProducerId).ToList();
        foreach (var id in expired)
        {
            _producers.Remove(id);
        }

        return expired.Count;
    }

    /// <summary>
    /// Writes <c>&lt;MapEndOffset&gt;.snapshot</c> and deletes all but the newest <see cref="SnapshotsKept"/> snapshots.
    /// </summary>
    public void TakeSnapshot()
    {
        ProducerSnapshotFile.Write(ProducerSnapshotFile.PathFor(Directory, MapEndOffset), ProducerSnapshotFile.Encode(_producers.Values));
        var offsets = ProducerSnapshotFile.List(Directory);
        for (var i = 0; i < offsets.Count - SnapshotsKept; i++)
        {
            File.Delete(ProducerSnapshotFile.PathFor(Directory, offsets[i]));
        }
    }

    /// <summary>
    /// Replaces the state with the newest readable snapshot at or below <paramref name="maxOffset"/> (the log end
    /// offset). Snapshots above it (stale after a truncation) and unreadable ones are deleted. Returns the offset
    /// the state is now valid up to (the snapshot's), or -1 when no snapshot was usable (the state is then empty).
    /// </summary>
    public long LoadLatestSnapshot(long maxOffset, Action<string, Exception>? onCorrupt = null)
    {
        Clear();
        var offsets = ProducerSnapshotFile.List(Directory);
        for (var i = offsets.Count - 1; i >= 0; i--)
        {
            var path = ProducerSnapshotFile.PathFor(Directory, offsets[i]);
            if (offsets[i] > maxOffset)
            {
                File.Delete(path);
                continue;
            }

            try
            {
                foreach (var (id, entry) in ProducerSnapshotFile.Decode(File.ReadAllBytes(path)))
                {
                    _producers[id] = entry;
                    if (entry.CurrentTxnFirstOffset >= 0)
                    {
                        _unstable[entry.CurrentTxnFirstOffset] = new UnstableTxn(id, entry.CurrentTxnFirstOffset, long.MaxValue);
                    }
                }

                MapEndOffset = offsets[i];
                return offsets[i];
            }
            catch (InvalidDataException e)
            {
                onCorrupt?.Invoke(path, e);
                _producers.Clear();
                _unstable.Clear();
                File.Delete(path);
            }
        }

        return -1;
    }

    /// <summary>Deletes every snapshot above <paramref name="offset"/>.</summary>
    public void DeleteSnapshotsAbove(long offset)
    {
        foreach (var o in ProducerSnapshotFile.List(Directory))
        {
            if (o > offset)
            {
                File.Delete(ProducerSnapshotFile.PathFor(Directory, o));
            }
        }
    }
}
