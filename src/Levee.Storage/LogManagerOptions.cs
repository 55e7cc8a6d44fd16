namespace Levee.Storage;

/// <summary>Settings of a <see cref="LogManager"/>, with Kafka's broker config names and defaults.</summary>
public sealed class LogManagerOptions
{
    /// <summary>
    /// Default of <see cref="MaxOpenSegmentFiles"/>: half the process's open-file limit (the soft
    /// <c>RLIMIT_NOFILE</c>), leaving the rest to connections, checkpoints and the runtime; 4,096 where the limit
    /// cannot be read.
    /// </summary>
    public static int DefaultMaxOpenSegmentFiles { get; } = Math.Max(64, (int)Math.Min(int.MaxValue, OpenFileLimit.Soft() / 2));

    /// <summary><c>log.dirs</c> (one directory).</summary>
    public required string DataDirectory { get; init; }

    /// <summary><c>node.id</c>, recorded in <c>meta.properties</c> and checked on start.</summary>
    public int NodeId { get; init; } = 1;

    /// <summary>The cluster id recorded in <c>meta.properties</c>; null adopts the stored one or generates one.</summary>
    public string? ClusterId { get; init; }

    /// <summary>Configuration for logs opened at startup and created without one.</summary>
    public LogConfig DefaultConfig { get; init; } = LogConfig.Default;

    /// <summary>
    /// The free space of the data directory's file system and its reserve for the metadata log: partition data stops
    /// the reserve short of full. Null: no reserve, appends go on until the disk refuses them.
    /// </summary>
    public LogDirectorySpace? Space { get; init; }

    /// <summary>Per-topic configuration for logs found at startup; null means <see cref="DefaultConfig"/>.</summary>
    public Func<string, LogConfig>? TopicConfig { get; init; }

    /// <summary><c>log.retention.check.interval.ms</c>. Default 5 minutes.</summary>
    public long RetentionCheckIntervalMs { get; init; } = 300_000;

    /// <summary><c>log.flush.offset.checkpoint.interval.ms</c>: how often recovery points are checkpointed. Default 60 s.</summary>
    public long RecoveryPointCheckpointIntervalMs { get; init; } = 60_000;

    /// <summary><c>log.flush.start.offset.checkpoint.interval.ms</c>: how often log start offsets are checkpointed. Default 60 s.</summary>
    public long LogStartOffsetCheckpointIntervalMs { get; init; } = 60_000;

    /// <summary>
    /// <c>log.flush.scheduler.interval.ms</c>: how often logs are checked against their <c>flush.ms</c>. Kafka's
    /// default is "never"; ours is 1 s, which costs nothing while no topic sets <c>flush.ms</c>.
    /// </summary>
    public long FlushSchedulerIntervalMs { get; init; } = 1_000;

    /// <summary>
    /// <c>producer.id.expiration.check.interval.ms</c>: how often idle idempotent producers are expired (after each
    /// log's <see cref="LogConfig.ProducerIdExpirationMs"/>). Default 10 minutes.
    /// </summary>
    public long ProducerIdExpirationCheckIntervalMs { get; init; } = 600_000;

    /// <summary>
    /// How many segments (active ones included) may keep their <c>.log</c> file open at once, over all partitions:
    /// beyond it the least recently used are closed and reopened on demand. Index files hold none, so this bounds
    /// the descriptors of the logs whatever the number of partitions. Default <see cref="DefaultMaxOpenSegmentFiles"/>.
    /// </summary>
    public int MaxOpenSegmentFiles { get; init; } = DefaultMaxOpenSegmentFiles;

    /// <summary><c>log.cleaner.enable</c>: run the log cleaner for compacted topics. Default true.</summary>
    public bool CleanerEnable { get; init; } = true;

    /// <summary><c>log.cleaner.threads</c>: cleaner threads. Default 1.</summary>
    public int CleanerThreads { get; init; } = 1;

    /// <summary><c>log.cleaner.io.max.bytes.per.second</c>: bytes the cleaner threads read and write per second, together. Default unlimited.</summary>
    public double CleanerIoMaxBytesPerSecond { get; init; } = double.MaxValue;

    /// <summary><c>log.cleaner.backoff.ms</c>: how long an idle cleaner thread sleeps before looking again. Default 15 s.</summary>
    public long CleanerBackoffMs { get; init; } = 15_000;

    /// <summary><c>log.cleaner.dedupe.buffer.size</c>: memory of the offset maps of all cleaner threads. Default 128 MiB.</summary>
    public long CleanerDedupeBufferSize { get; init; } = 128L * 1024 * 1024;

    /// <summary><c>log.cleaner.io.buffer.load.factor</c>: how full an offset map may get. Default 0.9.</summary>
    public double CleanerIoBufferLoadFactor { get; init; } = 0.9;
}
