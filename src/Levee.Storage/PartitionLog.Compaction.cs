using System.Buffers;
using System.Security.Cryptography;
using Levee.Protocol.Records;
using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Levee.Storage;

/// <summary>What the cleaner would clean in one compacted log now (Kafka's LogToClean).</summary>
/// <param name="Log">The log.</param>
/// <param name="FirstDirtyOffset">Cleaned below it: where the offset map starts.</param>
/// <param name="FirstUncleanableOffset">Nothing at or above it is cleaned (active segment, uncommitted, or younger than min.compaction.lag.ms).</param>
/// <param name="CleanBytes">Bytes of the segments below the first dirty offset.</param>
/// <param name="DirtyBytes">Bytes of the segments from the first dirty offset to the first uncleanable one.</param>
/// <param name="MaxCompactionLagDue">The first dirty record is older than max.compaction.lag.ms: cleaned whatever the ratio (KIP-354).</param>
internal sealed record CleanableLog(PartitionLog Log, long FirstDirtyOffset, long FirstUncleanableOffset, long CleanBytes, long DirtyBytes, bool MaxCompactionLagDue)
{
    /// <summary>Dirty bytes over all cleanable bytes (min.cleanable.dirty.ratio compares with it).</summary>
    public double DirtyRatio => CleanBytes + DirtyBytes == 0 ? 0 : (double)DirtyBytes / (CleanBytes + DirtyBytes);
}

/// <summary>What one cleaning did.</summary>
/// <param name="BytesRead">Bytes read (offset map and rewrite).</param>
/// <param name="BytesWritten">Bytes of the cleaned segments.</param>
/// <param name="SegmentsCleaned">Segments replaced.</param>
/// <param name="RecordsRemoved">Records dropped (superseded, keyless, or tombstones past their horizon).</param>
internal readonly record struct CleanerStats(long BytesRead, long BytesWritten, int SegmentsCleaned, long RecordsRemoved);

public sealed partial class PartitionLog
{
    /// <summary>Cleaned output being written (removed at open).</summary>
    internal const string CleanedSuffix = ".cleaned";

    /// <summary>Cleaned output complete and fsynced, about to replace the segments it was made from (completed at open).</summary>
    internal const string SwapSuffix = ".swap";

    private long _firstDirtyOffset;
    private int _cleanerBusy;

    /// <summary>
    /// The cleaner's position (<c>cleaner-offset-checkpoint</c>): records below it were cleaned against every later
    /// key up to it; compaction's dirty section starts here. Never below the log start offset.
    /// </summary>
    public long FirstDirtyOffset
    {
        get => Math.Max(Volatile.Read(ref _firstDirtyOffset), LogStartOffset);
        internal set => Volatile.Write(ref _firstDirtyOffset, value);
    }

    /// <summary>Claims the log for one cleaner thread; false when another has it.</summary>
    internal bool TryBeginCleaning() => Interlocked.CompareExchange(ref _cleanerBusy, 1, 0) == 0;

    /// <summary>Releases the claim of <see cref="TryBeginCleaning"/>.</summary>
    internal void EndCleaning() => Volatile.Write(ref _cleanerBusy, 0);

    /// <summary>
    /// The cleanable section of a compacted log at <paramref name="nowMs"/>, null when the log is not compacted or
    /// holds no inactive committed segment old enough for min.compaction.lag.ms. As Kafka: only whole segments
    /// below the active one are cleaned, here also only those wholly below the last stable offset.
    /// </summary>
    internal CleanableLog? FindCleanable(long nowMs)
    {
        var config = Config;
        if (!config.Compact || _disposed)
        {
            return null;
        }

        var segments = Volatile.Read(ref _segments);
        // Kafka's first uncleanable offset: nothing at or above the last stable offset (at most the high watermark),
        // since an open transaction's records may still be aborted.
        var lastStable = LastStableOffset;
        var firstDirty = FirstDirtyOffset;
        var firstUncleanable = segments[0].BaseOffset;
        long clean = 0, dirty = 0;
        var maxLagDue = false;
        for (var i = 0; i + 1 < segments.Length; i++)
        {
            var segment = segments[i];
            var next = segments[i + 1];
            var young = config.MinCompactionLagMs > 0 && nowMs - LargestTimestamp(segment) < config.MinCompactionLagMs;
            if (next.BaseOffset > lastStable || young)
            {
                break;
            }

            firstUncleanable = next.BaseOffset;
            if (next.BaseOffset <= firstDirty)
            {
                clean += segment.Size;
                continue;
            }

            // KIP-354: the segment's first record is older than max.compaction.lag.ms.
            maxLagDue |= config.MaxCompactionLagMs != long.MaxValue && segment.RollBaseMs >= 0 && nowMs - segment.RollBaseMs > config.MaxCompactionLagMs;
            dirty += segment.Size;
        }

        return dirty == 0 ? null : new CleanableLog(this, firstDirty, firstUncleanable, clean, dirty, maxLagDue);
    }

    /// <summary>
    /// Cleans the log as Kafka's cleaner does: builds a map of the latest offset of every key in the dirty section
    /// (up to <paramref name="resources"/>' capacity), then rewrites every segment from the log start up to where
    /// the map ends, keeping a record only when it is the latest of its key (and, for a tombstone, while its batch's
    /// delete horizon has not passed), in groups of segments that fit in one, each through a <c>.cleaned</c> file
    /// renamed <c>.swap</c> before it replaces them. Null when nothing was cleanable.
    /// </summary>
    internal CleanerStats? Clean(long nowMs, CleanerResources resources, CancellationToken cancellationToken)
    {
        var cleanable = FindCleanable(nowMs);
        if (cleanable is null)
        {
            return null;
        }

        var config = Config;
        Dictionary<long, long> producerLastOffsets;
        lock (_lock)
        {
            ThrowIfDisposed();
            producerLastOffsets = _producers.ActiveProducers().ToDictionary(p => p.ProducerId, p => p.LastOffset);
        }

        var map = resources.OffsetMap;
        map.Clear();
        long bytesRead = 0;
        var mapEnd = BuildOffsetMap(cleanable, resources, ref bytesRead, cancellationToken);
        if (mapEnd <= cleanable.FirstDirtyOffset)
        {
            LogOffsetMapTooSmall(_logger, TopicPartition, resources.OffsetMapCapacity);
            return null;
        }

        var stats = new CleanerStats(bytesRead, 0, 0, 0);
        foreach (var group in GroupSegments(Volatile.Read(ref _segments), mapEnd, config))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var cleaned = CleanGroup(group, mapEnd, nowMs, config, producerLastOffsets, resources, cancellationToken);
            if (cleaned is not { } c)
            {
                // The log changed under us (retention, truncation, close): the next pass starts afresh.
                return stats;
            }

            stats = new CleanerStats(stats.BytesRead + c.BytesRead, stats.BytesWritten + c.BytesWritten, stats.SegmentsCleaned + c.SegmentsCleaned, stats.RecordsRemoved + c.RecordsRemoved);
        }

        FirstDirtyOffset = mapEnd;
        LogCleaned(_logger, TopicPartition, stats.SegmentsCleaned, stats.BytesRead, stats.BytesWritten, stats.RecordsRemoved, mapEnd);
        return stats;
    }

    /// <summary>
    /// Puts the latest offset of every key from the first dirty offset up in the map, batch by batch, until the dirty
    /// section ends or the next batch might not fit. Returns the offset the map covers up to (exclusive).
    /// </summary>
    private long BuildOffsetMap(CleanableLog cleanable, CleanerResources resources, ref long bytesRead, CancellationToken cancellationToken)
    {
        var map = resources.OffsetMap;
        var end = cleanable.FirstDirtyOffset;
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var segments = Volatile.Read(ref _segments);
        var aborted = new AbortedBatches(CollectAbortedTransactions(cleanable.FirstDirtyOffset, cleanable.FirstUncleanableOffset));
        for (var i = Math.Max(0, FloorSegment(segments, cleanable.FirstDirtyOffset)); i < segments.Length && segments[i].BaseOffset < cleanable.FirstUncleanableOffset; i++)
        {
            var full = false;
            foreach (var batch in ReadBatches(segments[i], resources))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var header = new RecordBatchHeader(batch.Span);
                if (aborted.IsAborted(header) || header.LastOffset < cleanable.FirstDirtyOffset)
                {
                    // An aborted transaction's records are no key's latest value: they are about to go.
                    continue;
                }

                if (map.Count + header.RecordCount > resources.OffsetMapCapacity)
                {
                    full = true;
                    break;
                }

                resources.Throttle(batch.Length, cancellationToken);
                bytesRead += batch.Length;
                if (!header.IsControl)
                {
                    using var reader = new RecordReader(batch.Span, resources.Decompressed);
                    while (reader.TryReadNext(out var record))
                    {
                        if (!record.KeyIsNull)
                        {
                            map[KeyHash(record.Key, hash)] = record.Offset;
                        }
                    }
                }

                end = header.LastOffset + 1;
            }

            if (full)
            {
                break;
            }

            end = Math.Max(end, Math.Min(segments[i].NextOffset, cleanable.FirstUncleanableOffset));
        }

        return end;
    }

    /// <summary>Groups the segments below <paramref name="mapEnd"/>, from the first, into runs whose bytes fit in one segment.</summary>
    private static List<LogSegment[]> GroupSegments(LogSegment[] segments, long mapEnd, LogConfig config)
    {
        var groups = new List<LogSegment[]>();
        var start = 0;
        while (start + 1 < segments.Length && segments[start].BaseOffset < mapEnd)
        {
            var size = (long)segments[start].Size;
            var end = start + 1;
            while (end + 1 < segments.Length
                && segments[end].BaseOffset < mapEnd
                && size + segments[end].Size <= config.SegmentBytes
                && segments[end + 1].BaseOffset - 1 - segments[start].BaseOffset <= int.MaxValue)
            {
                size += segments[end].Size;
                end++;
            }

            groups.Add(segments[start..end]);
            start = end;
        }

        return groups;
    }

    /// <summary>
    /// Writes the cleaned records of <paramref name="group"/> to <c>&lt;base&gt;.log.cleaned</c>, fsyncs it, renames it
    /// <c>.swap</c>, and swaps it in under the lock. Null when the group is no longer part of the log.
    /// </summary>
    private CleanerStats? CleanGroup(LogSegment[] group, long mapEnd, long nowMs, LogConfig config, Dictionary<long, long> producerLastOffsets, CleanerResources resources, CancellationToken cancellationToken)
    {
        var baseOffset = group[0].BaseOffset;
        var cleanedPath = LogSegment.FilePath(Directory, baseOffset, LogSegment.LogSuffix + CleanedSuffix);
        var swapPath = LogSegment.FilePath(Directory, baseOffset, LogSegment.LogSuffix + SwapSuffix);
        var map = resources.OffsetMap;
        long read = 0, written = 0, removed = 0;
        RecordRetention keep = (in Record record, bool horizonPassed) =>
        {
            if (record.KeyIsNull)
            {
                return false; // Kafka's cleaner drops keyless records of a compacted log
            }

            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            if (map.TryGetValue(KeyHash(record.Key, hash), out var latest) && record.Offset < latest)
            {
                return false;
            }

            return !(record.ValueIsNull && horizonPassed);
        };

        var txnIndexSwapPath = LogSegment.FilePath(Directory, baseOffset, TransactionIndex.Suffix + SwapSuffix);
        var aborted = new AbortedBatches(CollectAbortedTransactions(baseOffset, group[^1].NextOffset));
        try
        {
            using (var file = File.OpenHandle(cleanedPath, FileMode.Create, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete))
            {
                var output = resources.Output;
                foreach (var segment in group)
                {
                    foreach (var batch in ReadBatches(segment, resources))
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        resources.Throttle(batch.Length, cancellationToken);
                        read += batch.Length;
                        var header = new RecordBatchHeader(batch.Span);
                        var abortedBatch = aborted.IsAborted(header);
                        if (header.IsControl || (header.BaseOffset >= mapEnd && !abortedBatch))
                        {
                            // Transaction markers are kept as they are (Kafka removes one only once its transaction's
                            // records are gone and delete.retention.ms passed), as are batches beyond what the map covers.
                            output.Write(batch.Span);
                            continue;
                        }

                        var retainEmpty = header.ProducerId >= 0
                            && producerLastOffsets.TryGetValue(header.ProducerId, out var last)
                            && last == header.LastOffset;
                        if (abortedBatch && !retainEmpty)
                        {
                            // Kafka's cleaner discards the records of aborted transactions.
                            removed += header.RecordCount;
                            continue;
                        }

                        var kept = RecordBatchFilter.Filter(batch.Span, abortedBatch ? DropAll : keep, nowMs, config.DeleteRetentionMs, retainEmpty, resources.Decompressed, resources.Plain, output);
                        removed += header.RecordCount - kept;
                        if (output.WrittenCount >= CleanerResources.WriteChunkBytes)
                        {
                            written += Flush(file, output, written);
                        }
                    }
                }

                written += Flush(file, output, written);
                RandomAccess.FlushToDisk(file);
            }

            // The replaced segments' aborted transactions go with the cleaned one (their markers are kept), written
            // before the log's swap file exists: a crash before that leaves a stray index that the open deletes.
            var entries = group.SelectMany(s => s.TxnIndex.Entries).ToList();
            if (entries.Count > 0)
            {
                TransactionIndex.WriteFile(txnIndexSwapPath, entries);
            }

            // Complete and durable: from here a crash finishes the swap at the next open.
            File.Move(cleanedPath, swapPath, overwrite: true);
        }
        catch
        {
            File.Delete(cleanedPath);
            File.Delete(txnIndexSwapPath);
            throw;
        }

        return SwapIn(group, swapPath, txnIndexSwapPath) ? new CleanerStats(read, written, group.Length, removed) : null;
    }

    private static long Flush(SafeFileHandle file, PooledBufferWriter output, long position)
    {
        var count = output.WrittenCount;
        RandomAccess.Write(file, output.WrittenSpan, position);
        output.Clear();
        return count;
    }

    /// <summary>
    /// Replaces <paramref name="group"/> by the segment in <paramref name="swapPath"/>: the old segments are renamed
    /// <c>.deleted</c> (readers holding them finish, as with retention), the swap file becomes the <c>.log</c> and
    /// its indexes are built. False (and the swap file removed) when the group is no longer in the log.
    /// </summary>
    private bool SwapIn(LogSegment[] group, string swapPath, string txnIndexSwapPath)
    {
        lock (_lock)
        {
            var segments = _segments;
            var at = Array.IndexOf(segments, group[0]);
            if (_disposed || at < 0 || at + group.Length >= segments.Length || !IsRun(segments, at, group))
            {
                File.Delete(swapPath);
                File.Delete(txnIndexSwapPath);
                return false;
            }

            foreach (var old in group)
            {
                ScheduleDelete(old);
            }

            var baseOffset = group[0].BaseOffset;
            if (File.Exists(txnIndexSwapPath))
            {
                File.Move(txnIndexSwapPath, LogSegment.FilePath(Directory, baseOffset, TransactionIndex.Suffix), overwrite: true);
            }

            File.Move(swapPath, LogSegment.FilePath(Directory, baseOffset, LogSegment.LogSuffix));
            var cleaned = LogSegment.Open(Directory, baseOffset, _config, _fileCache, loadIndexes: false, out _);
            cleaned.Rebuild(validateCrc: false, _config.IndexIntervalBytes, out _);
            Volatile.Write(ref _segments, [.. segments[..at], cleaned, .. segments[(at + group.Length)..]]);
            return true;
        }
    }

    private static bool IsRun(LogSegment[] segments, int at, LogSegment[] group)
    {
        for (var i = 0; i < group.Length; i++)
        {
            if (!ReferenceEquals(segments[at + i], group[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Keeps no record: the retention of an aborted transaction's batch kept empty for its producer's sequence.</summary>
    private static bool DropAll(in Record record, bool horizonPassed) => false;

    /// <summary>
    /// Tells, walking a log's batches in order, which belong to aborted transactions (Kafka's cleaner does the same
    /// with the transaction index): from an aborted transaction's first offset, its producer's transactional batches
    /// are aborted until its control batch.
    /// </summary>
    private sealed class AbortedBatches(IReadOnlyList<AbortedTxn> aborted)
    {
        private readonly AbortedTxn[] _byFirstOffset = [.. aborted.OrderBy(a => a.FirstOffset)];
        private readonly HashSet<long> _open = [];
        private int _next;

        /// <summary>True when <paramref name="header"/> is a data batch of an aborted transaction. Call for every batch, in offset order.</summary>
        public bool IsAborted(RecordBatchHeader header)
        {
            while (_next < _byFirstOffset.Length && _byFirstOffset[_next].FirstOffset <= header.BaseOffset)
            {
                _open.Add(_byFirstOffset[_next++].ProducerId);
            }

            if (header.IsControl)
            {
                _open.Remove(header.ProducerId);
                return false;
            }

            return header.IsTransactional && _open.Contains(header.ProducerId);
        }
    }

    /// <summary>The whole batches of a segment, one at a time, in a buffer of <paramref name="resources"/>.</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> ReadBatches(LogSegment segment, CleanerResources resources)
    {
        using var lease = segment.AcquireLog();
        var size = segment.Size;
        long position = 0;
        while (NextBatchSize(lease.Handle, position, size, resources) is var total and > 0)
        {
            var buffer = resources.Batch(total);
            SparseIndex.ReadFully(lease.Handle, buffer.Span, position);
            yield return buffer;
            position += total;
        }
    }

    /// <summary>The size of the whole batch at <paramref name="position"/>, 0 when none ends before <paramref name="limit"/>.</summary>
    private static int NextBatchSize(SafeFileHandle file, long position, long limit, CleanerResources resources)
    {
        if (position + RecordBatchHeader.Size > limit)
        {
            return 0;
        }

        var header = resources.Batch(RecordBatchHeader.Size).Span;
        SparseIndex.ReadFully(file, header, position);
        var total = new RecordBatchHeader(header).TotalSize;
        return total >= RecordBatchHeader.Size && position + total <= limit ? total : 0;
    }

    /// <summary>A 128-bit digest of a key (SHA-256, truncated): the offset map stores digests, not keys, as Kafka's does.</summary>
    private static UInt128 KeyHash(ReadOnlySpan<byte> key, Span<byte> scratch)
    {
        SHA256.HashData(key, scratch);
        return new UInt128(BitConverter.ToUInt64(scratch), BitConverter.ToUInt64(scratch[8..]));
    }

    /// <summary>
    /// At open, before segments are loaded: a <c>.cleaned</c> file is an interrupted cleaning and goes; a
    /// <c>.swap</c> file is complete, so the swap is finished as Kafka's log loader does: every segment whose base
    /// offset falls in the swap's offsets is removed with its indexes, and the swap becomes the segment.
    /// </summary>
    private static void CompleteSwaps(string directory, ILogger logger, TopicPartition topicPartition)
    {
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, "*" + LogSegment.LogSuffix + CleanedSuffix))
        {
            File.Delete(path);
        }

        foreach (var swap in System.IO.Directory.EnumerateFiles(directory, "*" + LogSegment.LogSuffix + SwapSuffix).Order(StringComparer.Ordinal).ToList())
        {
            if (!LogSegment.TryParseBaseOffset(Path.GetFileName(swap), LogSegment.LogSuffix + SwapSuffix, out var baseOffset))
            {
                continue;
            }

            var end = Math.Max(baseOffset + 1, NextOffsetOf(swap));
            foreach (var log in System.IO.Directory.EnumerateFiles(directory, "*" + LogSegment.LogSuffix).ToList())
            {
                if (LogSegment.TryParseBaseOffset(Path.GetFileName(log), LogSegment.LogSuffix, out var other) && other >= baseOffset && other < end)
                {
                    File.Delete(log);
                    File.Delete(LogSegment.FilePath(directory, other, LogSegment.IndexSuffix));
                    File.Delete(LogSegment.FilePath(directory, other, LogSegment.TimeIndexSuffix));
                    File.Delete(LogSegment.FilePath(directory, other, TransactionIndex.Suffix));
                }
            }

            var txnIndexSwap = LogSegment.FilePath(directory, baseOffset, TransactionIndex.Suffix + SwapSuffix);
            if (File.Exists(txnIndexSwap))
            {
                File.Move(txnIndexSwap, LogSegment.FilePath(directory, baseOffset, TransactionIndex.Suffix), overwrite: true);
            }

            File.Move(swap, LogSegment.FilePath(directory, baseOffset, LogSegment.LogSuffix));
            LogSwapCompleted(logger, topicPartition, baseOffset, end);
        }

        // A cleaned segment's transaction index whose log never became a swap file: that cleaning is lost.
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, "*" + TransactionIndex.Suffix + SwapSuffix))
        {
            File.Delete(path);
        }
    }

    /// <summary>The offset after the last whole batch of a segment file.</summary>
    private static long NextOffsetOf(string path)
    {
        using var file = File.OpenHandle(path);
        var length = RandomAccess.GetLength(file);
        Span<byte> bytes = stackalloc byte[RecordBatchHeader.Size];
        long position = 0, next = 0;
        while (position + RecordBatchHeader.Size <= length && SparseIndex.ReadFully(file, bytes, position) == bytes.Length)
        {
            var header = new RecordBatchHeader(bytes);
            if (header.TotalSize < RecordBatchHeader.Size)
            {
                break;
            }

            next = header.LastOffset + 1;
            position += header.TotalSize;
        }

        return next;
    }

    [LoggerMessage(EventName = "Cleaned", Level = LogLevel.Information, Message = "Cleaned {TopicPartition}: {Segments} segment(s), {BytesRead} bytes read, {BytesWritten} written, {Removed} records removed; clean up to offset {FirstDirtyOffset}")]
    private static partial void LogCleaned(ILogger logger, TopicPartition topicPartition, int segments, long bytesRead, long bytesWritten, long removed, long firstDirtyOffset);

    [LoggerMessage(EventName = "OffsetMapTooSmall", Level = LogLevel.Warning, Message = "Cannot clean {TopicPartition}: its first dirty batch holds more records than the offset map's {Capacity} entries (log.cleaner.dedupe.buffer.size)")]
    private static partial void LogOffsetMapTooSmall(ILogger logger, TopicPartition topicPartition, int capacity);

    [LoggerMessage(EventName = "SwapCompleted", Level = LogLevel.Warning, Message = "Completed the interrupted swap of cleaned segment {BaseOffset} of {TopicPartition} (replacing segments below offset {End})")]
    private static partial void LogSwapCompleted(ILogger logger, TopicPartition topicPartition, long baseOffset, long end);
}
