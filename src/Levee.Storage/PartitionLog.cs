using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;

namespace Levee.Storage;

/// <summary>
/// The log of one partition in Kafka's on-disk layout: <c>&lt;data&gt;/&lt;topic&gt;-&lt;partition&gt;/</c> holding segments
/// (<c>.log</c>, <c>.index</c>, <c>.timeindex</c>) and a <c>leader-epoch-checkpoint</c>.
/// </summary>
/// <remarks>
/// Concurrency: appends, rolls, truncation, retention and config changes take one lock per partition. Readers
/// take no lock: they read the segment array (replaced, never mutated, on roll and deletion), the segment's
/// published size and the published log end offset, all written with volatile writes after the bytes they
/// describe. Deleted segments are renamed <c>.deleted</c> and removed after <c>file.delete.delay.ms</c>, as
/// Kafka does, so a read that raced with retention still completes. File handles: the active segment keeps its
/// <c>.log</c> open; rolled segments open theirs on demand through the shared <see cref="SegmentFileCache"/>;
/// index files are written at roll, flush and close and hold no descriptor.
/// The class is split by concern: <c>PartitionLog.Open.cs</c> (recovery), <c>.Append.cs</c>, <c>.Read.cs</c>,
/// <c>.Retention.cs</c>, <c>.ProducerState.cs</c> (idempotent and transactional producers, the last stable offset).
/// </remarks>
public sealed partial class PartitionLog : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Lock _flushLock = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly LeaderEpochCheckpoint _epochs;
    private readonly List<LogSegment> _pendingDeletes = [];
    private readonly ProducerStateManager _producers;
    private readonly SegmentFileCache _fileCache;
    private readonly FailureRun _appendFailures = new(FailureRun.DefaultSummaryInterval);
    private LogDirectorySpace? _space;
    private LogSegment[] _segments;
    private LogConfig _config;
    private long _logStartOffset;
    private long _logEndOffset;
    private long _highWatermark;
    private long _recoveryPoint;
    private long _lastFlushMs;
    private bool _disposed;

    private PartitionLog(
        string directory,
        TopicPartition topicPartition,
        LogConfig config,
        LogSegment[] segments,
        LeaderEpochCheckpoint epochs,
        ILogger logger,
        TimeProvider time,
        SegmentFileCache fileCache)
    {
        Directory = directory;
        _fileCache = fileCache;
        TopicPartition = topicPartition;
        _config = config;
        _segments = segments;
        _epochs = epochs;
        _logger = logger;
        _time = time;
        _lastFlushMs = NowMs;
        _producers = new ProducerStateManager(directory);
    }

    /// <summary>The partition directory.</summary>
    public string Directory { get; }

    /// <summary>The partition.</summary>
    public TopicPartition TopicPartition { get; }

    /// <summary>Current configuration.</summary>
    public LogConfig Config => Volatile.Read(ref _config);

    /// <summary>First offset a consumer can read; moves forward with retention and DeleteRecords.</summary>
    public long LogStartOffset => Volatile.Read(ref _logStartOffset);

    /// <summary>The next offset to assign (one past the last stored record).</summary>
    public long LogEndOffset => Volatile.Read(ref _logEndOffset);

    /// <summary>
    /// Offsets below it are committed and visible to consumers. Set by the broker (single node: to
    /// <see cref="LogEndOffset"/> after each append; with replicas: the ISR minimum). Clamped to
    /// [<see cref="LogStartOffset"/>, <see cref="LogEndOffset"/>]. Starts at the log end offset when opened:
    /// a replicated broker must set it from its own checkpoint. <see cref="LastStableOffset"/> follows it at once (it is
    /// computed from it).
    /// </summary>
    public long HighWatermark
    {
        get => Volatile.Read(ref _highWatermark);
        set => Volatile.Write(ref _highWatermark, Math.Max(LogStartOffset, Math.Min(value, LogEndOffset)));
    }

    /// <summary>Everything below this offset has been fsynced; recovery after a crash starts at its segment.</summary>
    public long RecoveryPoint => Volatile.Read(ref _recoveryPoint);

    /// <summary>Wall-clock milliseconds of the last flush (for <c>flush.ms</c>).</summary>
    public long LastFlushTimeMs => Volatile.Read(ref _lastFlushMs);

    /// <summary>Number of segments.</summary>
    public int SegmentCount => Volatile.Read(ref _segments).Length;

    /// <summary>Base offsets of the segments, oldest first.</summary>
    public IReadOnlyList<long> SegmentBaseOffsets => [.. Volatile.Read(ref _segments).Select(s => s.BaseOffset)];

    /// <summary>Total bytes of all segments' log files.</summary>
    public long Size
    {
        get
        {
            long total = 0;
            foreach (var s in Volatile.Read(ref _segments))
            {
                total += s.Size;
            }

            return total;
        }
    }

    /// <summary>The leader epoch history (<c>leader-epoch-checkpoint</c>).</summary>
    public IReadOnlyList<EpochEntry> LeaderEpochs => _epochs.Entries;

    /// <summary>The latest leader epoch appended, -1 if none.</summary>
    public int LatestEpoch => _epochs.LatestEpoch;

    /// <summary>
    /// OffsetForLeaderEpoch: the largest known epoch &lt;= <paramref name="requestedEpoch"/> and the end offset of
    /// that epoch (the start of the next one, or the log end offset for the latest); (-1, -1) when unknown.
    /// </summary>
    public (int Epoch, long EndOffset) EndOffsetForEpoch(int requestedEpoch) => _epochs.EndOffsetFor(requestedEpoch, LogEndOffset);

    /// <summary>Replaces the configuration (dynamic topic config change). Index sizes apply to new segments.</summary>
    public void UpdateConfig(LogConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Volatile.Write(ref _config, config);
    }

    /// <summary>fsyncs everything up to the log end offset and moves <see cref="RecoveryPoint"/> there.</summary>
    public void Flush() => FlushUpTo(LogEndOffset);

    private void FlushUpTo(long offset)
    {
        lock (_flushLock)
        {
            if (_disposed)
            {
                return;
            }

            // Epochs first: the recovery point must never pass data whose epoch the checkpoint file lacks.
            _epochs.PersistIfDirty();
            var recoveryPoint = RecoveryPoint;
            if (offset <= recoveryPoint)
            {
                Volatile.Write(ref _lastFlushMs, NowMs);
                return;
            }

            var segments = Volatile.Read(ref _segments);
            for (var i = 0; i < segments.Length; i++)
            {
                var segment = segments[i];
                var nextBase = i + 1 < segments.Length ? segments[i + 1].BaseOffset : long.MaxValue;
                if (segment.BaseOffset >= offset || nextBase <= recoveryPoint)
                {
                    continue;
                }

                try
                {
                    segment.Flush();
                }
                catch (ObjectDisposedException)
                {
                    // Deleted by retention or closed meanwhile: nothing left to make durable.
                }
            }

            Volatile.Write(ref _recoveryPoint, Math.Max(recoveryPoint, offset));
            Volatile.Write(ref _lastFlushMs, NowMs);
        }
    }

    /// <summary>
    /// Closes the files; records the active segment's max timestamp in its time index. Does not flush. A write that
    /// fails (a full disk) is logged in one line and the files are closed all the same.
    /// </summary>
    public void Dispose()
    {
        if (Close() is { } failure)
        {
            LogCloseFailed(_logger, TopicPartition, DiskSpace.Describe(failure), DiskSpace.StackTraceWorthy(failure));
        }
    }

    /// <summary>
    /// Closes the log as <see cref="Dispose"/> does, without logging: every file is closed whatever fails to be
    /// written. Returns the first write that failed (producer snapshot, epoch checkpoint, indexes), null when all were
    /// written. What is missing is rebuilt by the next open's recovery, which the caller asks for by leaving no
    /// clean-shutdown marker.
    /// </summary>
    internal Exception? Close()
    {
        // The flush lock too: a roll's background flush still running is waited for (it may write the epoch
        // checkpoint, whose .tmp a reopen of this directory deletes), and one starting later finds the log closed.
        lock (_lock)
            lock (_flushLock)
            {
                if (_disposed)
                {
                    return null;
                }

                // Kafka writes a producer snapshot on close, so the next open need not replay the log.
                var failure = TakeProducerSnapshot();
                Attempt(_epochs.PersistIfDirty, ref failure);
                _disposed = true;
                var segments = _segments;
                Attempt(segments[^1].OnBecomeInactive, ref failure);
                foreach (var segment in segments)
                {
                    Attempt(segment.Close, ref failure);
                }

                foreach (var segment in _pendingDeletes)
                {
                    segment.DeleteFiles();
                }

                _pendingDeletes.Clear();
                return failure;
            }
    }

    /// <summary>Runs a write; an I/O error becomes <paramref name="firstFailure"/> unless an earlier one already is.</summary>
    private static void Attempt(Action write, ref Exception? firstFailure)
    {
        try
        {
            write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            firstFailure ??= e;
        }
    }

    /// <summary>Closes the log and removes its directory.</summary>
    public void Delete()
    {
        // What the close could not write (a full disk) is deleted anyway.
        _ = Close();
        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private LogSegment ActiveSegment => _segments[^1];

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Index of the segment with the largest base offset &lt;= <paramref name="offset"/>, or -1.</summary>
    private static int FloorSegment(LogSegment[] segments, long offset)
    {
        int lo = 0, hi = segments.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (segments[mid].BaseOffset <= offset)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found;
    }

    [LoggerMessage(EventName = "CloseFailed", Level = LogLevel.Warning, Message = "Closing the log of {TopicPartition}: a write failed ({Problem}); it is recovered at the next open")]
    private static partial void LogCloseFailed(ILogger logger, TopicPartition topicPartition, string problem, Exception? exception);
}
