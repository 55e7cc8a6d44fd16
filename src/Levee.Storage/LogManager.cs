using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Levee.Storage;

/// <summary>
/// All partition logs of one data directory, laid out as Kafka lays out a <c>log.dirs</c> entry:
/// <c>meta.properties</c>, <c>recovery-point-offset-checkpoint</c>, <c>log-start-offset-checkpoint</c>, the
/// <c>.kafka_cleanshutdown</c> marker and one <c>&lt;topic&gt;-&lt;partition&gt;</c> directory per log. One background
/// loop (a <see cref="PeriodicTimer"/>) applies retention, flush.ms and the checkpoints for every log.
/// </summary>
public sealed partial class LogManager : IAsyncDisposable
{
    /// <summary>Written on clean shutdown, removed at start: its absence means the logs must be recovered.</summary>
    public const string CleanShutdownFileName = ".kafka_cleanshutdown";

    /// <summary>Recovery points of all logs.</summary>
    public const string RecoveryPointCheckpointFileName = "recovery-point-offset-checkpoint";

    /// <summary>Log start offsets of all logs.</summary>
    public const string LogStartOffsetCheckpointFileName = "log-start-offset-checkpoint";

    /// <summary>Kafka's file of every compacted log's first dirty offset (where the cleaner resumes).</summary>
    public const string CleanerOffsetCheckpointFileName = "cleaner-offset-checkpoint";

    /// <summary>Node and cluster identity of the directory.</summary>
    public const string MetaPropertiesFileName = "meta.properties";

    /// <summary>Directory of the metadata quorum's log, skipped when opening partitions.</summary>
    public const string MetadataLogDirectoryName = "__cluster_metadata-0";

    /// <summary>The topic id of a partition's log, in its directory, as Kafka writes it (KIP-516).</summary>
    public const string PartitionMetadataFileName = "partition.metadata";

    private const string DeleteDirSuffix = "-delete";

    private readonly ConcurrentDictionary<TopicPartition, PartitionLog> _logs = new();
    private readonly Lock _createLock = new();
    private readonly Lock _checkpointLock = new();
    private readonly LogManagerOptions _options;
    private readonly SegmentFileCache _fileCache;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<string> _toRemove = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly FailureRun _backgroundWriteFailures = new(FailureRun.DefaultSummaryInterval);
    private Task _loop = Task.CompletedTask;
    private Task _remover = Task.CompletedTask;
    private LogCleaner? _cleaner;
    private long _lastRetentionMs;
    private long _lastRecoveryCheckpointMs;
    private long _lastStartOffsetCheckpointMs;
    private long _lastProducerExpirationMs;
    private int _disposed;

    private LogManager(LogManagerOptions options, string clusterId, bool hadCleanShutdown, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _options = options;
        _fileCache = new SegmentFileCache(options.MaxOpenSegmentFiles);
        ClusterId = clusterId;
        HadCleanShutdown = hadCleanShutdown;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<LogManager>();
        _time = time;
        var now = NowMs;
        _lastRetentionMs = now;
        _lastRecoveryCheckpointMs = now;
        _lastStartOffsetCheckpointMs = now;
        _lastProducerExpirationMs = now;
    }

    /// <summary>The data directory.</summary>
    public string DataDirectory => _options.DataDirectory;

    /// <summary>The cluster id from (or written to) <c>meta.properties</c>.</summary>
    public string ClusterId { get; }

    /// <summary>True when the previous run ended with a clean shutdown (no recovery was needed).</summary>
    public bool HadCleanShutdown { get; }

    /// <summary>Segments whose <c>.log</c> handle is open now (at most <see cref="LogManagerOptions.MaxOpenSegmentFiles"/>).</summary>
    public int OpenSegmentFiles => _fileCache.Count;

    /// <summary>All open logs.</summary>
    public IReadOnlyCollection<PartitionLog> All => [.. _logs.Values];

    /// <summary>
    /// Opens the data directory: checks <c>meta.properties</c>, reads the checkpoints, opens every partition
    /// directory (in parallel; recovery when the clean-shutdown marker is missing), removes the marker, and
    /// starts the background loop.
    /// </summary>
    /// <exception cref="InvalidOperationException"><c>meta.properties</c> names another node or cluster.</exception>
    public static LogManager Open(LogManagerOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(time);
        options.DefaultConfig.Validate();
        var dir = options.DataDirectory;
        Directory.CreateDirectory(dir);

        var clusterId = EnsureMetaProperties(dir, options);
        var markerPath = Path.Combine(dir, CleanShutdownFileName);
        var hadCleanShutdown = File.Exists(markerPath);
        var manager = new LogManager(options, clusterId, hadCleanShutdown, loggerFactory, time);
        var recoveryPoints = manager.ReadCheckpoint(RecoveryPointCheckpointFileName);
        var startOffsets = manager.ReadCheckpoint(LogStartOffsetCheckpointFileName);
        var cleanerOffsets = manager.ReadCheckpoint(CleanerOffsetCheckpointFileName);

        var partitionDirs = new List<(string Path, TopicPartition TopicPartition)>();
        foreach (var sub in Directory.EnumerateDirectories(dir))
        {
            var name = Path.GetFileName(sub);
            if (name.EndsWith(DeleteDirSuffix, StringComparison.Ordinal))
            {
                // Left by a deletion the last run did not finish: removed in the background, not before the start.
                manager._toRemove.Writer.TryWrite(sub);
            }
            else if (name == MetadataLogDirectoryName)
            {
                // The Raft metadata log lives beside the partitions, as KRaft's does; it is not a topic.
                continue;
            }
            else if (TopicPartition.TryParseDirectoryName(name, out var tp))
            {
                partitionDirs.Add((sub, tp.Value));
            }
        }

        var partitionLogger = loggerFactory.CreateLogger<PartitionLog>();
        try
        {
            Parallel.ForEach(
                partitionDirs,
                new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                entry =>
                {
                    var config = options.TopicConfig?.Invoke(entry.TopicPartition.Topic) ?? options.DefaultConfig;
                    var log = PartitionLog.Open(
                        entry.Path,
                        entry.TopicPartition,
                        config,
                        recoveryPoints.GetValueOrDefault(entry.TopicPartition),
                        hadCleanShutdown,
                        partitionLogger,
                        time,
                        startOffsets.GetValueOrDefault(entry.TopicPartition),
                        manager._fileCache,
                        options.Space);
                    log.FirstDirtyOffset = cleanerOffsets.GetValueOrDefault(entry.TopicPartition);
                    manager._logs[entry.TopicPartition] = log;
                });
        }
        catch
        {
            foreach (var log in manager._logs.Values)
            {
                log.Dispose();
            }

            throw;
        }

        // From here on a crash is unclean again; the checkpoints now describe the recovered logs.
        if (hadCleanShutdown)
        {
            File.Delete(markerPath);
        }

        // A full disk does not stop the start: the logs are readable, and what could not be written now is written
        // when space is freed (the checkpoints at their next turn, the recovered logs at their next flush).
        var unflushed = manager._logs.Values.Where(log => log.RecoveryFlushFailure is not null).ToList();
        if (unflushed.Count > 0)
        {
            LogRecoveryUnflushed(manager._logger, unflushed.Count, dir, DiskSpace.Describe(unflushed[0].RecoveryFlushFailure!));
        }

        manager.TryWriteCheckpoints(manager.NowMs, "checkpoints at start");
        LogStarted(manager._logger, dir, manager._logs.Count, hadCleanShutdown);
        manager._loop = manager.RunAsync(manager._stop.Token);
        manager._remover = manager.RemoveDeletedAsync(manager._stop.Token);
        if (options.CleanerEnable)
        {
            manager._cleaner = new LogCleaner(() => manager.All, options, time, loggerFactory.CreateLogger<LogCleaner>());
            manager._cleaner.Start();
        }

        return manager;
    }

    /// <summary>
    /// Returns the partition's log for topic generation <paramref name="topicId"/> (KIP-516): a log left by an
    /// earlier topic of the same name (deleted and created again) is deleted first, so a new generation never
    /// starts from the old one's records. The id is kept in <c>partition.metadata</c> beside the segments.
    /// </summary>
    /// <exception cref="ArgumentException">The topic name is not legal in Kafka.</exception>
    public PartitionLog GetOrCreate(TopicPartition topicPartition, LogConfig? config, Guid topicId)
    {
        lock (_createLock)
        {
            if (_logs.TryGetValue(topicPartition, out var existing))
            {
                var stored = ReadTopicId(existing.Directory);
                if (stored is { } id && id != topicId)
                {
                    LogOtherGeneration(_logger, topicPartition, id, topicId);
                    DeleteMany([topicPartition]);
                }
            }

            var log = GetOrCreate(topicPartition, config);
            if (ReadTopicId(log.Directory) != topicId)
            {
                WriteTopicId(log.Directory, topicId);
            }

            return log;
        }
    }

    /// <summary>The topic id recorded for the partition's log here, or null (no log, or one from before topic ids).</summary>
    public Guid? StoredTopicId(TopicPartition topicPartition) =>
        _logs.TryGetValue(topicPartition, out var log) ? ReadTopicId(log.Directory) : null;

    private static Guid? ReadTopicId(string directory)
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(directory, PartitionMetadataFileName)))
            {
                if (line.StartsWith("topic_id:", StringComparison.Ordinal))
                {
                    var text = line["topic_id:".Length..].Trim().Replace('-', '+').Replace('_', '/');
                    var bytes = Convert.FromBase64String(text.PadRight(24, '='));
                    return bytes.Length == 16 ? new Guid(bytes, bigEndian: true) : null;
                }
            }
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            // Missing or unreadable: the log predates topic ids here, and is adopted.
        }

        return null;
    }

    private static void WriteTopicId(string directory, Guid topicId)
    {
        var id = Convert.ToBase64String(topicId.ToByteArray(bigEndian: true)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        AtomicFile.Write(Path.Combine(directory, PartitionMetadataFileName), Encoding.UTF8.GetBytes($"version: 0\ntopic_id: {id}\n"), durable: false);
    }

    /// <summary>Returns the partition's log, creating its directory and first segment if needed.</summary>
    /// <exception cref="ArgumentException">The topic name is not legal in Kafka.</exception>
    public PartitionLog GetOrCreate(TopicPartition topicPartition, LogConfig? config = null)
    {
        if (_logs.TryGetValue(topicPartition, out var existing))
        {
            return existing;
        }

        TopicPartition.ValidateTopicName(topicPartition.Topic);
        ArgumentOutOfRangeException.ThrowIfNegative(topicPartition.Partition);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_createLock)
        {
            if (_logs.TryGetValue(topicPartition, out existing))
            {
                return existing;
            }

            var log = PartitionLog.Open(
                Path.Combine(DataDirectory, topicPartition.DirectoryName),
                topicPartition,
                config ?? _options.DefaultConfig,
                recoveryPoint: 0,
                hadCleanShutdown: true,
                _loggerFactory.CreateLogger<PartitionLog>(),
                _time,
                logStartOffset: 0,
                _fileCache,
                _options.Space);
            _logs[topicPartition] = log;
            return log;
        }
    }

    /// <summary>The partition's log if it exists here.</summary>
    public bool TryGet(TopicPartition topicPartition, [NotNullWhen(true)] out PartitionLog? log) => _logs.TryGetValue(topicPartition, out log);

    /// <summary>
    /// Closes and removes a partition's log. The directory is renamed <c>&lt;topic&gt;-&lt;partition&gt;.&lt;id&gt;-delete</c>
    /// at once (as Kafka does) and removed in the background. False when the log does not exist.
    /// </summary>
    public bool Delete(TopicPartition topicPartition) => DeleteMany([topicPartition]) == 1;

    /// <summary>
    /// Closes and removes many partitions' logs at once: each directory is renamed at once, the checkpoints are
    /// written once for the whole batch, and the files are removed by one background task, so deleting a topic
    /// of many partitions takes a rename each and never holds up the caller or a shutdown. Returns how many
    /// logs existed.
    /// </summary>
    public int DeleteMany(IEnumerable<TopicPartition> topicPartitions)
    {
        ArgumentNullException.ThrowIfNull(topicPartitions);
        var deleted = 0;
        lock (_createLock)
        {
            foreach (var topicPartition in topicPartitions)
            {
                if (!_logs.TryRemove(topicPartition, out var log))
                {
                    continue;
                }

                deleted++;

                // What the close cannot write (a full disk) goes with the directory.
                _ = log.Close();
                var renamed = Path.Combine(DataDirectory, $"{topicPartition.DirectoryName}.{Guid.NewGuid():N}{DeleteDirSuffix}");
                try
                {
                    Directory.Move(log.Directory, renamed);
                }
                catch (IOException)
                {
                    renamed = log.Directory;
                }

                _toRemove.Writer.TryWrite(renamed);
            }
        }

        if (deleted > 0)
        {
            TryWriteCheckpoints(NowMs, "checkpoints after a deletion");
        }

        return deleted;
    }

    private async Task RemoveDeletedAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            await foreach (var path in _toRemove.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // One directory at a time: a mass deletion costs one core's share of I/O, not the thread pool.
                TryDeleteDirectory(path);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: what is left keeps its -delete name and is removed after the next start.
        }
    }

    /// <summary>Writes <c>recovery-point-offset-checkpoint</c> from every log's recovery point.</summary>
    public void CheckpointRecoveryPoints() =>
        WriteCheckpoint(RecoveryPointCheckpointFileName, log => log.RecoveryPoint);

    /// <summary>Writes <c>log-start-offset-checkpoint</c> from every log's start offset.</summary>
    public void CheckpointLogStartOffsets() =>
        WriteCheckpoint(LogStartOffsetCheckpointFileName, log => log.LogStartOffset);

    /// <summary>Writes <c>cleaner-offset-checkpoint</c> from every compacted log's first dirty offset.</summary>
    public void CheckpointCleanerOffsets() =>
        WriteCheckpoint(CleanerOffsetCheckpointFileName, log => log.FirstDirtyOffset, log => log.Config.Compact);

    /// <summary>Cleanings by the background cleaner that replaced segments since the start (0 when it is disabled).</summary>
    public long CleanerPasses => _cleaner?.Passes ?? 0;

    /// <summary>
    /// One pass of the background work, whichever parts are due at <paramref name="nowMs"/>: retention, flush.ms,
    /// checkpoints, producer id expiration. The timer calls it; tests may too. A write that fails (a full disk) is
    /// tried again at its next turn; the data directory's log says when such failures start and when they end.
    /// </summary>
    public void RunMaintenance(long nowMs)
    {
        var pass = new MaintenancePass();
        if (nowMs - _lastRetentionMs >= _options.RetentionCheckIntervalMs)
        {
            _lastRetentionMs = nowMs;
            var deleted = 0;
            foreach (var log in _logs.Values)
            {
                // Retention frees space: it goes on when the disk is full.
                pass.Run($"retention of {log.TopicPartition}", () => deleted += log.ApplyRetention(nowMs));
            }

            if (deleted > 0)
            {
                pass.Run("log-start-offset checkpoint", CheckpointLogStartOffsets);
            }
        }

        foreach (var log in _logs.Values)
        {
            var flushMs = log.Config.FlushMs;
            if (flushMs != long.MaxValue && nowMs - log.LastFlushTimeMs >= flushMs)
            {
                pass.Run($"flush of {log.TopicPartition}", log.Flush);
            }
        }

        if (nowMs - _lastRecoveryCheckpointMs >= _options.RecoveryPointCheckpointIntervalMs)
        {
            _lastRecoveryCheckpointMs = nowMs;
            pass.Run("recovery-point checkpoint", CheckpointRecoveryPoints);
        }

        if (nowMs - _lastStartOffsetCheckpointMs >= _options.LogStartOffsetCheckpointIntervalMs)
        {
            _lastStartOffsetCheckpointMs = nowMs;
            pass.Run("log-start-offset checkpoint", CheckpointLogStartOffsets);
        }

        if (nowMs - _lastProducerExpirationMs >= _options.ProducerIdExpirationCheckIntervalMs)
        {
            _lastProducerExpirationMs = nowMs;
            foreach (var log in _logs.Values)
            {
                log.RemoveExpiredProducers(nowMs);
            }
        }

        // The reserve kept for the metadata log: released when the disk fills, held again once space is freed.
        _options.Space?.Maintain();
        ReportBackgroundWrites(nowMs, pass);
    }

    /// <summary>Writes both checkpoints now; a failure is reported as the background work's are, not thrown.</summary>
    private void TryWriteCheckpoints(long nowMs, string what)
    {
        var pass = new MaintenancePass();
        pass.Run(what, () =>
        {
            CheckpointRecoveryPoints();
            CheckpointLogStartOffsets();
            CheckpointCleanerOffsets();
        });
        ReportBackgroundWrites(nowMs, pass);
    }

    /// <summary>Logs the start of a run of failed background writes, and its end at the first pass that writes without one.</summary>
    private void ReportBackgroundWrites(long nowMs, MaintenancePass pass)
    {
        if (pass.Failure is { } failure)
        {
            if (_backgroundWriteFailures.Failed(nowMs).Kind == FailureNoteKind.Started)
            {
                LogBackgroundWritesFailing(_logger, DataDirectory, pass.FailedWhat!, DiskSpace.Describe(failure), DiskSpace.StackTraceWorthy(failure));
            }
        }
        else if (pass.Succeeded && _backgroundWriteFailures.Succeeded(nowMs) is { } run)
        {
            LogBackgroundWritesResumed(_logger, DataDirectory, run.DurationMs, run.Failures);
        }
    }

    /// <summary>The writes of one pass: whether any ran, and the first that failed.</summary>
    private sealed class MaintenancePass
    {
        public bool Succeeded { get; private set; }

        public Exception? Failure { get; private set; }

        public string? FailedWhat { get; private set; }

        public void Run(string what, Action write)
        {
            try
            {
                write();
                Succeeded = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (Failure is null)
                {
                    Failure = e;
                    FailedWhat = what;
                }
            }
        }
    }

    /// <summary>
    /// Clean shutdown: stops the loop, flushes and closes every log, writes the checkpoints (recovery point = log
    /// end) and then the clean-shutdown marker, so the next start trusts the indexes and skips recovery.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _cleaner?.Dispose();
        await _loop.ConfigureAwait(false);
        await _remover.ConfigureAwait(false);
        _stop.Dispose();

        // A full disk makes this shutdown unclean, not a crash: every file is closed, what can be written is, and
        // without the marker the next start recovers what could not be.
        var logs = _logs.Values.ToList();
        var unwritten = new HashSet<TopicPartition>();
        Exception? failure = null;
        foreach (var log in logs)
        {
            try
            {
                log.Flush();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                failure ??= e;
                unwritten.Add(log.TopicPartition);
            }
        }

        var checkpoints = new MaintenancePass();
        checkpoints.Run("checkpoints", () =>
        {
            CheckpointRecoveryPoints();
            CheckpointLogStartOffsets();
            CheckpointCleanerOffsets();
        });
        failure ??= checkpoints.Failure;
        foreach (var log in logs)
        {
            if (log.Close() is { } closeFailure)
            {
                failure ??= closeFailure;
                unwritten.Add(log.TopicPartition);
            }
        }

        if (failure is null)
        {
            try
            {
                await File.WriteAllBytesAsync(Path.Combine(DataDirectory, CleanShutdownFileName), []).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                failure = e;
            }
        }

        if (failure is null)
        {
            LogStopped(_logger, DataDirectory);
        }
        else
        {
            LogStoppedUnclean(_logger, DataDirectory, unwritten.Count, logs.Count, checkpoints.Failure is null ? "written" : "not written", DiskSpace.Describe(failure), DiskSpace.StackTraceWorthy(failure));
        }
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var tickMs = Math.Max(1, Math.Min(
            Math.Min(_options.RetentionCheckIntervalMs, _options.FlushSchedulerIntervalMs),
            Math.Min(Math.Min(_options.RecoveryPointCheckpointIntervalMs, _options.LogStartOffsetCheckpointIntervalMs), _options.ProducerIdExpirationCheckIntervalMs)));
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(tickMs), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    RunMaintenance(NowMs);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    LogLoopFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutdown.
        }
    }

    private Dictionary<TopicPartition, long> ReadCheckpoint(string fileName)
    {
        var path = Path.Combine(DataDirectory, fileName);
        try
        {
            return CheckpointFile.ReadOffsets(path);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or OverflowException)
        {
            // Recovering from offset 0 is always safe, only slower.
            LogCheckpointUnreadable(_logger, path, e);
            return [];
        }
    }

    private void WriteCheckpoint(string fileName, Func<PartitionLog, long> offset, Func<PartitionLog, bool>? include = null)
    {
        lock (_checkpointLock)
        {
            var entries = _logs.Where(kv => include?.Invoke(kv.Value) ?? true).Select(kv => new KeyValuePair<TopicPartition, long>(kv.Key, offset(kv.Value))).ToList();
            CheckpointFile.WriteOffsets(Path.Combine(DataDirectory, fileName), entries);
        }
    }

    /// <summary>Reads or writes <c>meta.properties</c> (version=1, node.id, cluster.id) and returns the cluster id.</summary>
    private static string EnsureMetaProperties(string dir, LogManagerOptions options)
    {
        var path = Path.Combine(dir, MetaPropertiesFileName);
        if (File.Exists(path))
        {
            var properties = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var line in File.ReadAllLines(path))
            {
                var trimmed = line.Trim();
                var eq = trimmed.IndexOf('=', StringComparison.Ordinal);
                if (trimmed.Length == 0 || trimmed[0] is '#' or '!' || eq <= 0)
                {
                    continue;
                }

                properties[trimmed[..eq].Trim()] = trimmed[(eq + 1)..].Trim();
            }

            if (properties.TryGetValue("node.id", out var nodeId) && nodeId != options.NodeId.ToString(CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException($"{path} belongs to node.id {nodeId}, but this broker is node.id {options.NodeId}.");
            }

            if (properties.TryGetValue("cluster.id", out var storedCluster))
            {
                if (options.ClusterId is not null && options.ClusterId != storedCluster)
                {
                    throw new InvalidOperationException($"{path} belongs to cluster {storedCluster}, but this broker is configured for cluster {options.ClusterId}.");
                }

                return storedCluster;
            }
        }

        var clusterId = options.ClusterId ?? NewKafkaUuid();
        var text = new StringBuilder()
            .Append("#\n#")
            .Append(DateTimeOffset.UtcNow.ToString("R", CultureInfo.InvariantCulture))
            .Append('\n')
            .Append(CultureInfo.InvariantCulture, $"cluster.id={clusterId}\n")
            .Append(CultureInfo.InvariantCulture, $"node.id={options.NodeId}\n")
            .Append("version=1\n")
            .ToString();
        AtomicFile.Write(path, Encoding.UTF8.GetBytes(text), durable: false);
        return clusterId;
    }

    /// <summary>A random id in Kafka's Uuid text form: 16 bytes, URL-safe base64 without padding.</summary>
    private static string NewKafkaUuid() =>
        Convert.ToBase64String(Guid.NewGuid().ToByteArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [LoggerMessage(EventName = "Started", Level = LogLevel.Information, Message = "Opened {Count} logs in {Directory} (clean shutdown: {Clean})")]
    private static partial void LogStarted(ILogger logger, string directory, int count, bool clean);

    [LoggerMessage(EventName = "Stopped", Level = LogLevel.Information, Message = "Closed the logs in {Directory} cleanly")]
    private static partial void LogStopped(ILogger logger, string directory);

    [LoggerMessage(EventName = "StoppedUnclean", Level = LogLevel.Warning, Message = "Closed the logs in {Directory}, not cleanly ({Problem}): {Unwritten} of {Count} logs could not be written whole, checkpoints {Checkpoints}; the next start recovers them")]
    private static partial void LogStoppedUnclean(ILogger logger, string directory, int unwritten, int count, string checkpoints, string problem, Exception? exception);

    [LoggerMessage(EventName = "BackgroundWritesFailing", Level = LogLevel.Warning, Message = "Background writes in {Directory} fail ({What}: {Problem}): checkpoints and flushes are tried again at their next turn")]
    private static partial void LogBackgroundWritesFailing(ILogger logger, string directory, string what, string problem, Exception? exception);

    [LoggerMessage(EventName = "BackgroundWritesResumed", Level = LogLevel.Information, Message = "Background writes in {Directory} succeed again after {DurationMs} ms; {Failures} passes failed meanwhile")]
    private static partial void LogBackgroundWritesResumed(ILogger logger, string directory, long durationMs, long failures);

    [LoggerMessage(EventName = "RecoveryUnflushed", Level = LogLevel.Warning, Message = "{Count} logs in {Directory} were recovered but could not be flushed ({Problem}); they are recovered again if the broker stops before their next flush")]
    private static partial void LogRecoveryUnflushed(ILogger logger, int count, string directory, string problem);

    [LoggerMessage(EventName = "LoopFailed", Level = LogLevel.Error, Message = "Log maintenance loop iteration failed")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventName = "OtherGeneration", Level = LogLevel.Warning, Message = "Log {TopicPartition} belongs to topic id {Stored}, not {Wanted}: an earlier topic of the same name; deleting it")]
    private static partial void LogOtherGeneration(ILogger logger, TopicPartition topicPartition, Guid stored, Guid wanted);

    [LoggerMessage(EventName = "CheckpointUnreadable", Level = LogLevel.Warning, Message = "Checkpoint {Path} is unreadable; recovering from offset 0")]
    private static partial void LogCheckpointUnreadable(ILogger logger, string path, Exception exception);
}
