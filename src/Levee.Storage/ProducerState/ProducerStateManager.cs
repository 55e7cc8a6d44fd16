using Levee.Protocol;
using Levee.Protocol.Records;

namespace Levee.Storage.ProducerState;

/// <summary>
/// The idempotent producers of one partition (KIP-98): per producer id its epoch and its last five batches. A
/// client's batch is checked against it before it is appended (<see cref="BeginClientAppend"/>,
/// <see cref="CheckClientBatch"/>) and recorded after (<see cref="Apply"/>); recovery rebuilds it from the latest
/// snapshot plus the batches after it. Not thread-safe: the owning <see cref="PartitionLog"/> calls it under its lock.
/// </summary>
public sealed class ProducerStateManager
{
    /// <summary>Snapshots kept in the partition directory (Kafka keeps the recent ones; two suffice to survive one bad file).</summary>
    public const int SnapshotsKept = 2;

    private readonly Dictionary<long, ProducerStateEntry> _producers = [];
    private readonly List<(long ProducerId, short Epoch, int LastSequence)> _pending = [];

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

    /// <summary>The entry of a producer id, if tracked.</summary>
    public bool TryGet(long producerId, out ProducerStateEntry entry) => _producers.TryGetValue(producerId, out entry!);

    /// <summary>Copies of the tracked producers, ordered by id.</summary>
    public List<ActiveProducer> ActiveProducers() =>
        [.. _producers.Values
            .OrderBy(p => p.ProducerId)
            .Select(p => new ActiveProducer(p.ProducerId, p.ProducerEpoch, p.LastSequence, p.LastTimestamp, p.LastOffset, -1))];

    /// <summary>Forgets everything (before a reload).</summary>
    public void Clear()
    {
        _producers.Clear();
        _pending.Clear();
        MapEndOffset = 0;
    }

    /// <summary>Starts checking the batches of one client append (several batches of one producer may follow each other).</summary>
    public void BeginClientAppend() => _pending.Clear();

    /// <summary>
    /// Checks one batch of a client append, in request order, with Kafka's rules (ProducerAppendInfo):
    /// <list type="bullet">
    /// <item>same epoch and sequence range as one of the producer's cached batches: a retry; returns true with the
    /// original batch, and the caller appends nothing and answers with the original offsets;</item>
    /// <item>epoch older than the producer's: <see cref="ErrorCode.InvalidProducerEpoch"/>;</item>
    /// <item>a newer epoch must start at sequence 0, else <see cref="ErrorCode.OutOfOrderSequenceNumber"/>;</item>
    /// <item>the same epoch must continue the sequence (0 after <see cref="int.MaxValue"/>), else
    /// <see cref="ErrorCode.OutOfOrderSequenceNumber"/>;</item>
    /// <item>an unknown producer id is accepted at any sequence: since KIP-360 (Kafka 2.5) the broker no longer
    /// answers UNKNOWN_PRODUCER_ID, because its state may have been removed by retention or expiration while the
    /// producer is still alive.</item>
    /// </list>
    /// </summary>
    /// <exception cref="ProducerStateException">The batch is refused; nothing of the append may be written.</exception>
    public bool CheckClientBatch(long producerId, short epoch, int firstSequence, int lastSequence, long offset, out BatchMetadata duplicate)
    {
        _producers.TryGetValue(producerId, out var entry);
        if (entry is not null && entry.TryFindDuplicate(epoch, firstSequence, lastSequence, out duplicate))
        {
            return true;
        }

        duplicate = default;
        short currentEpoch = -1;
        var currentLastSequence = -1;
        var known = false;
        var pending = _pending.FindLastIndex(p => p.ProducerId == producerId);
        if (pending >= 0)
        {
            (_, currentEpoch, currentLastSequence) = _pending[pending];
            known = true;
        }
        else if (entry is not null)
        {
            (currentEpoch, currentLastSequence) = (entry.ProducerEpoch, entry.LastSequence);
            known = true;
        }

        if (known && epoch < currentEpoch)
        {
            throw new ProducerStateException(
                ErrorCode.InvalidProducerEpoch,
                $"Epoch of producer {producerId} at offset {offset} is {epoch}, which is smaller than the last seen epoch {currentEpoch}.");
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

        _pending.Add((producerId, epoch, lastSequence));
        return false;
    }

    /// <summary>
    /// Records one appended batch (offsets assigned) without checking it: the leader after
    /// <see cref="CheckClientBatch"/>, a follower, or recovery replaying the log. Batches without a producer id and
    /// control batches are ignored.
    /// </summary>
    public void Apply(RecordBatchHeader header)
    {
        if (header.ProducerId < 0 || header.IsControl)
        {
            return;
        }

        var producerId = header.ProducerId;
        if (!_producers.TryGetValue(producerId, out var entry))
        {
            entry = new ProducerStateEntry(producerId, header.ProducerEpoch);
            _producers[producerId] = entry;
        }

        var firstSequence = header.BaseSequence;
        var lastSequence = BatchMetadata.IncrementSequence(firstSequence, header.LastOffsetDelta);
        entry.AddBatch(header.ProducerEpoch, new BatchMetadata(firstSequence, lastSequence, header.BaseOffset, header.LastOffset, header.MaxTimestamp));
    }

    /// <summary>Removes producers whose last batch is at least <paramref name="expirationMs"/> old (producer.id.expiration.ms). Returns how many.</summary>
    public int RemoveExpired(long nowMs, long expirationMs)
    {
        var expired = _producers.Values.Where(p => nowMs - p.LastTimestamp >= expirationMs).Select(p => p.ProducerId).ToList();
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
                }

                MapEndOffset = offsets[i];
                return offsets[i];
            }
            catch (InvalidDataException e)
            {
                onCorrupt?.Invoke(path, e);
                _producers.Clear();
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
