namespace Levee.Storage.ProducerState;

/// <summary>
/// The state of one producer id on one partition: its current epoch and its last
/// <see cref="MaxCachedBatches"/> batches (a producer has at most 5 requests in flight per partition, so a retry
/// can only be of one of those). With transactions (KIP-98) also the first offset of its open transaction and the
/// last coordinator epoch of a marker it got. Mutated only under the partition log's lock.
/// </summary>
public sealed class ProducerStateEntry
{
    /// <summary>Batches remembered per producer, as in Kafka (max.in.flight.requests.per.connection &lt;= 5 with idempotence).</summary>
    public const int MaxCachedBatches = 5;

    private readonly List<BatchMetadata> _batches = new(MaxCachedBatches);
    private long _lastTimestamp = -1;

    /// <summary>Creates an entry with no batches yet.</summary>
    public ProducerStateEntry(long producerId, short producerEpoch)
    {
        ProducerId = producerId;
        ProducerEpoch = producerEpoch;
    }

    /// <summary>The producer id.</summary>
    public long ProducerId { get; }

    /// <summary>The latest epoch seen from this producer.</summary>
    public short ProducerEpoch { get; private set; }

    /// <summary>The cached batches of the current epoch, oldest first.</summary>
    public IReadOnlyList<BatchMetadata> Batches => _batches;

    /// <summary>Sequence of the last record appended in the current epoch, -1 when none.</summary>
    public int LastSequence => _batches.Count == 0 ? -1 : _batches[^1].LastSequence;

    /// <summary>Last offset appended by this producer, -1 when none.</summary>
    public long LastOffset => _batches.Count == 0 ? -1 : _batches[^1].LastOffset;

    /// <summary>
    /// Max timestamp of the producer's last batch (data, coordinator-written or marker), -1 when none; producer id
    /// expiration counts from it.
    /// </summary>
    public long LastTimestamp => _lastTimestamp;

    /// <summary>Base offset of the first batch of the producer's open transaction, -1 when none is open.</summary>
    public long CurrentTxnFirstOffset { get; set; } = -1;

    /// <summary>Coordinator epoch of the last transaction marker written for this producer, -1 when none.</summary>
    public int CoordinatorEpoch { get; set; } = -1;

    /// <summary>
    /// The cached batch with exactly this epoch and sequence range: the batch a retry duplicates. Kafka matches
    /// on (epoch, first sequence, last sequence); a retry is the same batch, so all three agree.
    /// </summary>
    public bool TryFindDuplicate(short epoch, int firstSequence, int lastSequence, out BatchMetadata original)
    {
        if (epoch == ProducerEpoch)
        {
            foreach (var batch in _batches)
            {
                if (batch.FirstSequence == firstSequence && batch.LastSequence == lastSequence)
                {
                    original = batch;
                    return true;
                }
            }
        }

        original = default;
        return false;
    }

    /// <summary>Records an appended batch. A new epoch forgets the batches of the old one.</summary>
    public void AddBatch(short epoch, BatchMetadata batch)
    {
        UpdateEpoch(epoch, batch.Timestamp);

        if (_batches.Count == MaxCachedBatches)
        {
            _batches.RemoveAt(0);
        }

        _batches.Add(batch);
    }

    /// <summary>
    /// Records a batch that carries no sequence (a transaction marker, a coordinator's batch): the epoch moves (a new
    /// one forgets the old one's batches, as Kafka's maybeUpdateProducerEpoch) and the timestamp counts for expiration.
    /// </summary>
    public void UpdateEpoch(short epoch, long timestamp)
    {
        if (epoch != ProducerEpoch)
        {
            ProducerEpoch = epoch;
            _batches.Clear();
        }

        _lastTimestamp = timestamp;
    }
}

/// <summary>A producer as DescribeProducers reports it (a copy, safe to read outside the log's lock).</summary>
/// <param name="ProducerId">The producer id.</param>
/// <param name="ProducerEpoch">Its current epoch.</param>
/// <param name="LastSequence">The last sequence number appended, -1 when none.</param>
/// <param name="LastTimestamp">Max timestamp of its last batch, -1 when none.</param>
/// <param name="LastOffset">Offset of its last record, -1 when none.</param>
/// <param name="CurrentTxnStartOffset">First offset of its open transaction, -1 when none is open.</param>
/// <param name="CoordinatorEpoch">Coordinator epoch of the last transaction marker written for it, -1 when none.</param>
public readonly record struct ActiveProducer(long ProducerId, short ProducerEpoch, int LastSequence, long LastTimestamp, long LastOffset, long CurrentTxnStartOffset, int CoordinatorEpoch);
