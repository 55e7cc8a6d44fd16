namespace Levee.Storage;

/// <summary>
/// Per-partition log settings, with Kafka's topic-level names and defaults. Immutable: a dynamic topic config
/// change builds a new instance and hands it to <see cref="PartitionLog.UpdateConfig"/>.
/// </summary>
public sealed record LogConfig
{
    /// <summary>Kafka's defaults.</summary>
    public static LogConfig Default { get; } = new();

    /// <summary><c>segment.bytes</c>: roll a segment before it would exceed this size. Default 1 GiB.</summary>
    public int SegmentBytes { get; init; } = 1024 * 1024 * 1024;

    /// <summary><c>segment.ms</c>: roll a non-empty segment this long after its first append. Default 7 days.</summary>
    public long SegmentMs { get; init; } = 7L * 24 * 60 * 60 * 1000;

    /// <summary><c>retention.ms</c>: delete segments whose newest timestamp is older than this; -1 keeps forever. Default 7 days.</summary>
    public long RetentionMs { get; init; } = 7L * 24 * 60 * 60 * 1000;

    /// <summary><c>retention.bytes</c>: delete the oldest segments while the log is larger than this; -1 means no limit.</summary>
    public long RetentionBytes { get; init; } = -1;

    /// <summary><c>index.interval.bytes</c>: bytes of log between two offset (and time) index entries. Default 4096.</summary>
    public int IndexIntervalBytes { get; init; } = 4096;

    /// <summary><c>segment.index.bytes</c>: maximum size of an offset or time index; a full index rolls the segment. Default 10 MiB.</summary>
    public int SegmentIndexBytes { get; init; } = 10 * 1024 * 1024;

    /// <summary><c>file.delete.delay.ms</c>: how long a deleted segment stays readable (renamed <c>.deleted</c>) before its files go.</summary>
    public long FileDeleteDelayMs { get; init; } = 60_000;

    /// <summary><c>flush.messages</c>: fsync after this many unflushed messages (offsets). Default never.</summary>
    public long FlushMessages { get; init; } = long.MaxValue;

    /// <summary><c>flush.ms</c>: fsync when the last flush is this old (checked by the log manager). Default never.</summary>
    public long FlushMs { get; init; } = long.MaxValue;

    /// <summary>
    /// <c>producer.id.expiration.ms</c> (a broker setting in Kafka, carried here so every log has it): the state of an
    /// idempotent producer whose last batch is this old is dropped. Default 1 day.
    /// </summary>
    public long ProducerIdExpirationMs { get; init; } = 86_400_000;

    /// <summary><c>cleanup.policy</c> holds <c>compact</c>: the log cleaner keeps the latest record of each key.</summary>
    public bool Compact { get; init; }

    /// <summary>
    /// <c>cleanup.policy</c> holds <c>delete</c> (the default): <c>retention.ms</c> and <c>retention.bytes</c> delete old
    /// segments. A topic with only <c>compact</c> keeps its segments for ever (compaction bounds it by keys).
    /// </summary>
    public bool Delete { get; init; } = true;

    /// <summary><c>delete.retention.ms</c>: how long a tombstone stays after the cleaner first kept it. Default 1 day.</summary>
    public long DeleteRetentionMs { get; init; } = 86_400_000;

    /// <summary><c>min.cleanable.dirty.ratio</c>: the share of the log not yet cleaned above which the cleaner takes it. Default 0.5.</summary>
    public double MinCleanableDirtyRatio { get; init; } = 0.5;

    /// <summary><c>min.compaction.lag.ms</c>: a record stays uncompacted at least this long after it was written. Default 0.</summary>
    public long MinCompactionLagMs { get; init; }

    /// <summary><c>max.compaction.lag.ms</c> (KIP-354): a record is compacted at most this long after it was written, whatever the dirty ratio.</summary>
    public long MaxCompactionLagMs { get; init; } = long.MaxValue;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for values Kafka would refuse.</summary>
    public void Validate()
    {
        // Kafka: segment.bytes >= 14 (a legacy record's overhead); we need room for at least one batch header.
        ArgumentOutOfRangeException.ThrowIfLessThan(SegmentBytes, 14, nameof(SegmentBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(SegmentMs, 1, nameof(SegmentMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetentionMs, -1, nameof(RetentionMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetentionBytes, -1, nameof(RetentionBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(IndexIntervalBytes, nameof(IndexIntervalBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(SegmentIndexBytes, 4, nameof(SegmentIndexBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(FileDeleteDelayMs, nameof(FileDeleteDelayMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(FlushMessages, 1, nameof(FlushMessages));
        ArgumentOutOfRangeException.ThrowIfNegative(FlushMs, nameof(FlushMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(ProducerIdExpirationMs, 1, nameof(ProducerIdExpirationMs));
        ArgumentOutOfRangeException.ThrowIfNegative(DeleteRetentionMs, nameof(DeleteRetentionMs));
        ArgumentOutOfRangeException.ThrowIfNegative(MinCleanableDirtyRatio, nameof(MinCleanableDirtyRatio));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MinCleanableDirtyRatio, 1, nameof(MinCleanableDirtyRatio));
        ArgumentOutOfRangeException.ThrowIfNegative(MinCompactionLagMs, nameof(MinCompactionLagMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCompactionLagMs, 1, nameof(MaxCompactionLagMs));
    }
}
