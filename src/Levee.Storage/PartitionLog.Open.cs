using Microsoft.Extensions.Logging;

namespace Levee.Storage;

public sealed partial class PartitionLog
{
    /// <summary>
    /// Opens (creating if needed) the log in <paramref name="directory"/>.
    /// </summary>
    /// <param name="directory">The partition directory, <c>&lt;data&gt;/&lt;topic&gt;-&lt;partition&gt;</c>.</param>
    /// <param name="topicPartition">The partition.</param>
    /// <param name="config">Its configuration.</param>
    /// <param name="recoveryPoint">From <c>recovery-point-offset-checkpoint</c>: offsets below it were fsynced.</param>
    /// <param name="hadCleanShutdown">
    /// True when the log directory had Kafka's clean-shutdown marker: index files are trusted (and rebuilt only
    /// when missing or failing a sanity check). False: every segment from the one holding
    /// <paramref name="recoveryPoint"/> is scanned, each batch's size, magic, offsets and CRC-32C checked, the
    /// file cut at the first bad or torn batch, later segments deleted, and the indexes rebuilt.
    /// </param>
    /// <param name="logger">Logger.</param>
    /// <param name="time">Clock (segment.ms, retention, flush.ms).</param>
    /// <param name="logStartOffset">From <c>log-start-offset-checkpoint</c>; 0 when unknown.</param>
    public static PartitionLog Open(
        string directory,
        TopicPartition topicPartition,
        LogConfig config,
        long recoveryPoint,
        bool hadCleanShutdown,
        ILogger logger,
        TimeProvider time,
        long logStartOffset = 0) =>
        Open(directory, topicPartition, config, recoveryPoint, hadCleanShutdown, logger, time, logStartOffset, SegmentFileCache.Shared);

    /// <summary>
    /// Opens the log; rolled segments' handles go through <paramref name="fileCache"/> (the LogManager's), and appends of
    /// partition data are checked against <paramref name="space"/>'s reserve (internal topics' are not: group offsets
    /// may use the room produce leaves).
    /// </summary>
    internal static PartitionLog Open(
        string directory,
        TopicPartition topicPartition,
        LogConfig config,
        long recoveryPoint,
        bool hadCleanShutdown,
        ILogger logger,
        TimeProvider time,
        long logStartOffset,
        SegmentFileCache fileCache,
        LogDirectorySpace? space = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        config.Validate();
        System.IO.Directory.CreateDirectory(directory);

        CompleteSwaps(directory, logger, topicPartition);
        RemoveLeftovers(directory);
        var epochs = LeaderEpochCheckpoint.Load(directory);
        var segments = LoadSegments(directory, config, recoveryPoint, hadCleanShutdown, logger, topicPartition, fileCache, epochs);
        if (segments.Count == 0)
        {
            segments.Add(LogSegment.Create(directory, Math.Max(0, logStartOffset), config, fileCache));
        }

        var logEndOffset = segments[^1].NextOffset;
        var startOffset = Math.Max(logStartOffset, segments[0].BaseOffset);
        if (startOffset > logEndOffset)
        {
            // DeleteRecords moved the start past everything stored (and the data went): start afresh there.
            foreach (var segment in segments)
            {
                segment.DeleteFiles();
            }

            segments.Clear();
            segments.Add(LogSegment.Create(directory, startOffset, config, fileCache));
            logEndOffset = startOffset;
        }

        epochs.TruncateFromEnd(logEndOffset);
        epochs.TruncateFromStart(startOffset);

        var log = new PartitionLog(directory, topicPartition, config, [.. segments], epochs, logger, time, fileCache)
        {
            _space = topicPartition.Topic.StartsWith("__", StringComparison.Ordinal) ? null : space,
            _logStartOffset = startOffset,
            _logEndOffset = logEndOffset,
            _highWatermark = logEndOffset,
            _recoveryPoint = hadCleanShutdown ? logEndOffset : Math.Min(Math.Max(recoveryPoint, 0), logEndOffset),
        };

        // After the log's own recovery: the producer state must describe exactly the batches that survived it. After
        // an unclean stop, the transaction indexes of the segments recovery re-read are rebuilt from their markers.
        var recovered = segments[Math.Max(0, FloorSegment([.. segments], recoveryPoint))].BaseOffset;
        log.ReloadProducerState(hadCleanShutdown ? long.MaxValue : recovered);

        if (!hadCleanShutdown)
        {
            // What recovery validated is now the truth on disk; make it durable so the next crash starts here.
            try
            {
                log.Flush();
            }
            catch (IOException e) when (DiskSpace.IsOutOfSpace(e))
            {
                // A full disk (the epoch checkpoint cannot be written): the log opens, readable, and its recovery
                // point stays where it was, so a crash before a later flush recovers it again.
                log.RecoveryFlushFailure = e;
            }
        }

        LogOpened(logger, topicPartition, segments.Count, startOffset, logEndOffset, hadCleanShutdown);
        return log;
    }

    /// <summary>Set when the flush after this open's recovery failed for want of space (the LogManager reports it).</summary>
    internal IOException? RecoveryFlushFailure { get; private set; }

    private static void RemoveLeftovers(string directory)
    {
        foreach (var path in System.IO.Directory.EnumerateFiles(directory))
        {
            var name = Path.GetFileName(path);
            // .deleted: segments awaiting deletion when we stopped. .tmp: a checkpoint write cut short. (Compaction's
            // .cleaned and .swap files were dealt with by CompleteSwaps.)
            if (name.EndsWith(LogSegment.DeletedSuffix, StringComparison.Ordinal)
                || name.EndsWith(".tmp", StringComparison.Ordinal))
            {
                File.Delete(path);
                continue;
            }

            // An index without its log is an orphan (the log was removed first).
            foreach (var suffix in (ReadOnlySpan<string>)[LogSegment.IndexSuffix, LogSegment.TimeIndexSuffix, TransactionIndex.Suffix])
            {
                if (LogSegment.TryParseBaseOffset(name, suffix, out var baseOffset)
                    && !File.Exists(LogSegment.FilePath(directory, baseOffset, LogSegment.LogSuffix)))
                {
                    File.Delete(path);
                }
            }
        }
    }

    private static List<LogSegment> LoadSegments(
        string directory,
        LogConfig config,
        long recoveryPoint,
        bool hadCleanShutdown,
        ILogger logger,
        TopicPartition topicPartition,
        SegmentFileCache fileCache,
        LeaderEpochCheckpoint epochs)
    {
        var baseOffsets = new List<long>();
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, "*" + LogSegment.LogSuffix))
        {
            if (LogSegment.TryParseBaseOffset(Path.GetFileName(path), LogSegment.LogSuffix, out var baseOffset))
            {
                baseOffsets.Add(baseOffset);
            }
        }

        baseOffsets.Sort();
        var segments = new List<LogSegment>(baseOffsets.Count);
        try
        {
            var rebuilt = new bool[baseOffsets.Count];
            for (var i = 0; i < baseOffsets.Count; i++)
            {
                var segment = LogSegment.Open(directory, baseOffsets[i], config, fileCache, loadIndexes: true, out var indexesUsable);
                segments.Add(segment);
                if (!indexesUsable && (hadCleanShutdown || baseOffsets[i] < recoveryPoint))
                {
                    LogIndexRebuilt(logger, topicPartition, segment.BaseOffset);
                    segment.Rebuild(validateCrc: false, config.IndexIntervalBytes, out _, epochs.Assign);
                    rebuilt[i] = true;
                }
            }

            if (!hadCleanShutdown && segments.Count > 0)
            {
                var first = Math.Max(0, FloorSegment([.. segments], recoveryPoint));
                for (var i = first; i < segments.Count; i++)
                {
                    var segment = segments[i];
                    // The epoch checkpoint may lack epochs that started above the recovery point (it is written
                    // lazily): the rescanned batches carry them.
                    var truncated = segment.Rebuild(validateCrc: true, config.IndexIntervalBytes, out var problem, epochs.Assign);
                    rebuilt[i] = true;
                    if (problem is null)
                    {
                        continue;
                    }

                    LogRecoveryTruncated(logger, topicPartition, segment.BaseOffset, truncated, problem, segment.NextOffset);
                    for (var j = segments.Count - 1; j > i; j--)
                    {
                        LogRecoveryDroppedSegment(logger, topicPartition, segments[j].BaseOffset);
                        segments[j].DeleteFiles();
                        segments.RemoveAt(j);
                    }

                    break;
                }
            }

            // Index files are written at roll, flush and close, so one may lag its log (a crash before the write):
            // every trusted segment reads on from its last index entry, extending the index and learning its next
            // offset and max timestamp. Usually that is one read of the last few KiB.
            for (var i = 0; i < segments.Count; i++)
            {
                if (!rebuilt[i])
                {
                    segments[i].LoadTail(config.IndexIntervalBytes);
                }
            }

            // An empty segment that is not the last one (a crash during a roll) holds nothing: drop it.
            for (var i = segments.Count - 2; i >= 0; i--)
            {
                if (segments[i].Size == 0)
                {
                    segments[i].DeleteFiles();
                    segments.RemoveAt(i);
                }
            }

            return segments;
        }
        catch
        {
            foreach (var segment in segments)
            {
                segment.Close();
            }

            throw;
        }
    }

    [LoggerMessage(EventName = "Opened", Level = LogLevel.Information, Message = "Opened log {TopicPartition}: {SegmentCount} segments, offsets [{LogStartOffset}, {LogEndOffset}), clean shutdown {Clean}")]
    private static partial void LogOpened(ILogger logger, TopicPartition topicPartition, int segmentCount, long logStartOffset, long logEndOffset, bool clean);

    [LoggerMessage(EventName = "IndexRebuilt", Level = LogLevel.Warning, Message = "Rebuilding the indexes of {TopicPartition} segment {BaseOffset}: missing or failing the sanity check")]
    private static partial void LogIndexRebuilt(ILogger logger, TopicPartition topicPartition, long baseOffset);

    [LoggerMessage(EventName = "RecoveryTruncated", Level = LogLevel.Warning, Message = "Recovery of {TopicPartition} segment {BaseOffset} truncated {Bytes} bytes ({Problem}); log end offset now {LogEndOffset}")]
    private static partial void LogRecoveryTruncated(ILogger logger, TopicPartition topicPartition, long baseOffset, long bytes, string problem, long logEndOffset);

    [LoggerMessage(EventName = "RecoveryDroppedSegment", Level = LogLevel.Warning, Message = "Recovery of {TopicPartition} deleted segment {BaseOffset}, which followed a truncated one")]
    private static partial void LogRecoveryDroppedSegment(ILogger logger, TopicPartition topicPartition, long baseOffset);
}
