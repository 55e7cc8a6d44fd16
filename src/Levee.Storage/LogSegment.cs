using System.Buffers;
using System.Globalization;
using Levee.Protocol.Records;
using Microsoft.Win32.SafeHandles;

namespace Levee.Storage;

/// <summary>
/// One segment: <c>&lt;20-digit base offset&gt;.log</c> holding RecordBatch v2 bytes exactly as stored, plus its
/// sparse <c>.index</c> and <c>.timeindex</c>, and the <c>.txnindex</c> of the transactions aborted in it. Mutated only under the partition's append lock; readers use
/// <see cref="Size"/>, published with a volatile write after the bytes are in the file.
/// </summary>
/// <remarks>
/// File handles: the index files hold none (see <see cref="SparseIndex"/>). Every segment, the active one too, opens
/// its <c>.log</c> on demand and lets the shared <see cref="SegmentFileCache"/> close it when it is among the least
/// recently used, so the descriptors of any number of partitions stay within one bound. Every access goes through
/// <see cref="AcquireLog"/>, which takes a reference, so an eviction (or close) never closes a descriptor in use.
/// </remarks>
internal sealed class LogSegment
{
    public const string LogSuffix = ".log";
    public const string IndexSuffix = ".index";
    public const string TimeIndexSuffix = ".timeindex";
    public const string DeletedSuffix = ".deleted";

    private readonly SegmentFileCache _cache;
    private SharedFileHandle? _log;
    private volatile bool _closing;
    private int _size;
    private long _maxTimestamp = -1;
    private long _offsetOfMaxTimestamp = -1;
    private long _nextOffset;
    private int _bytesSinceLastIndexEntry;
    private int _disposed;

    private LogSegment(string directory, long baseOffset, SegmentFileCache cache, SafeFileHandle log, SparseIndex offsetIndex, SparseIndex timeIndex)
    {
        Directory = directory;
        BaseOffset = baseOffset;
        _cache = cache;
        _log = new SharedFileHandle(log);
        CacheNode = new LinkedListNode<LogSegment>(this);
        OffsetIndex = offsetIndex;
        TimeIndex = timeIndex;
        TxnIndex = TransactionIndex.Open(FilePath(directory, baseOffset, TransactionIndex.Suffix));
        LogPath = FilePath(directory, baseOffset, LogSuffix);
        _nextOffset = baseOffset;
    }

    public string Directory { get; }

    public long BaseOffset { get; }

    public string LogPath { get; private set; }

    /// <summary>This segment's place in the <see cref="SegmentFileCache"/> (in no list while its file is closed).</summary>
    internal LinkedListNode<LogSegment> CacheNode { get; }

    /// <summary>Set by each use, cleared by the cache's eviction sweep (a second chance before the file is closed).</summary>
    internal volatile bool RecentlyUsed;

    /// <summary>Offset index: key = offset - base (of a batch's last offset), value = file position of the batch.</summary>
    public SparseIndex OffsetIndex { get; }

    /// <summary>Time index: key = max timestamp so far, value = (offset of that timestamp's batch's last offset) - base.</summary>
    public SparseIndex TimeIndex { get; }

    /// <summary>The transactions aborted by markers in this segment (<c>.txnindex</c>).</summary>
    public TransactionIndex TxnIndex { get; }

    /// <summary>Bytes of complete batches, as published to readers.</summary>
    public int Size => Volatile.Read(ref _size);

    /// <summary>Offset after the last batch, or <see cref="BaseOffset"/> when empty.</summary>
    public long NextOffset => Volatile.Read(ref _nextOffset);

    /// <summary>Largest batch max timestamp in the segment, -1 when none.</summary>
    public long MaxTimestamp => Volatile.Read(ref _maxTimestamp);

    /// <summary>Last offset of the first batch holding <see cref="MaxTimestamp"/> (Kafka's shallow offset).</summary>
    public long OffsetOfMaxTimestamp => Volatile.Read(ref _offsetOfMaxTimestamp);

    /// <summary>Milliseconds the <c>segment.ms</c> roll counts from: the first append, or on reopen the first batch's timestamp.</summary>
    public long RollBaseMs { get; private set; } = -1;

    /// <summary>True once the segment is scheduled for deletion.</summary>
    public bool IsDeleted { get; private set; }

    public static string FileStem(long baseOffset) => baseOffset.ToString("D20", CultureInfo.InvariantCulture);

    public static string FilePath(string directory, long baseOffset, string suffix) => Path.Combine(directory, FileStem(baseOffset) + suffix);

    /// <summary>Parses <c>00000000000000000042.log</c> into 42.</summary>
    public static bool TryParseBaseOffset(string fileName, string suffix, out long baseOffset)
    {
        baseOffset = 0;
        if (!fileName.EndsWith(suffix, StringComparison.Ordinal))
        {
            return false;
        }

        var stem = fileName.AsSpan(0, fileName.Length - suffix.Length);
        return stem.Length == 20 && long.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out baseOffset);
    }

    /// <summary>Creates an empty segment (replacing leftover files with the same base offset); its handle goes to the cache.</summary>
    public static LogSegment Create(string directory, long baseOffset, LogConfig config, SegmentFileCache cache)
    {
        var offsetIndexPath = FilePath(directory, baseOffset, IndexSuffix);
        var timeIndexPath = FilePath(directory, baseOffset, TimeIndexSuffix);

        // Indexes are written later (roll, flush, close): a stale file must not be taken for this segment's.
        File.Delete(offsetIndexPath);
        File.Delete(timeIndexPath);
        File.Delete(FilePath(directory, baseOffset, TransactionIndex.Suffix));
        var log = File.OpenHandle(FilePath(directory, baseOffset, LogSuffix), FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        var offsetIndex = SparseIndex.Open(offsetIndexPath, 4, config.SegmentIndexBytes, load: false, out _);
        var timeIndex = SparseIndex.Open(timeIndexPath, 8, config.SegmentIndexBytes, load: false, out _);
        var segment = new LogSegment(directory, baseOffset, cache, log, offsetIndex, timeIndex);
        cache.Add(segment);
        return segment;
    }

    /// <summary>
    /// Opens an existing segment. With <paramref name="loadIndexes"/> the index files are trusted if they pass a
    /// sanity check; <paramref name="indexesUsable"/> is false when they must be rebuilt (<see cref="Rebuild"/>).
    /// Index files may lag the log (they are written at roll, flush and close): <see cref="LoadTail"/> extends them.
    /// Its handle goes to <paramref name="cache"/>.
    /// </summary>
    public static LogSegment Open(string directory, long baseOffset, LogConfig config, SegmentFileCache cache, bool loadIndexes, out bool indexesUsable)
    {
        var offsetIndexPath = FilePath(directory, baseOffset, IndexSuffix);
        var timeIndexPath = FilePath(directory, baseOffset, TimeIndexSuffix);
        var load = loadIndexes && File.Exists(offsetIndexPath) && File.Exists(timeIndexPath);
        var offsetIndex = SparseIndex.Open(offsetIndexPath, 4, config.SegmentIndexBytes, load, out var offsetLoaded);
        var timeIndex = SparseIndex.Open(timeIndexPath, 8, config.SegmentIndexBytes, load, out var timeLoaded);
        var logPath = FilePath(directory, baseOffset, LogSuffix);
        var log = File.OpenHandle(logPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        long length;
        try
        {
            length = RandomAccess.GetLength(log);
            if (length > int.MaxValue)
            {
                throw new InvalidDataException($"Segment {logPath} is larger than 2 GiB.");
            }
        }
        catch
        {
            log.Dispose();
            throw;
        }

        var segment = new LogSegment(directory, baseOffset, cache, log, offsetIndex, timeIndex);
        cache.Add(segment);
        segment._size = (int)length;
        indexesUsable = offsetLoaded && timeLoaded && segment.IndexesLookSane();
        if (indexesUsable && segment.TimeIndex.TryGetLast(out var ts, out var rel))
        {
            segment._maxTimestamp = ts;
            segment._offsetOfMaxTimestamp = baseOffset + rel;
        }

        return segment;
    }

    private bool IndexesLookSane()
    {
        if (OffsetIndex.TryGetLast(out var rel, out var position) && (rel < 0 || position < 0 || position >= _size))
        {
            return false;
        }

        return !TimeIndex.TryGetLast(out _, out var timeRel) || timeRel >= 0;
    }

    /// <summary>
    /// Appends already-offset-assigned batches at the end of the file, then indexes them and publishes the size.
    /// Returns the file position the bytes were written at.
    /// </summary>
    public int Append(ReadOnlySpan<byte> batches, int indexIntervalBytes, long nowMs)
    {
        var position = _size;
        using (var lease = AcquireLog())
        {
            RandomAccess.Write(lease.Handle, batches, position);
        }

        if (RollBaseMs < 0)
        {
            RollBaseMs = nowMs;
        }

        var offset = 0;
        while (offset < batches.Length)
        {
            var header = new RecordBatchHeader(batches[offset..]);
            OnBatch(header.LastOffset, header.MaxTimestamp, position + offset, header.TotalSize, indexIntervalBytes);
            offset += header.TotalSize;
        }

        // Index entries stay in memory until the roll, a flush or the close writes them: one syscall per append.
        Volatile.Write(ref _size, position + batches.Length);
        return position;
    }

    /// <summary>
    /// After an append that failed: cuts off what part of it reached the file (a full disk takes what fits), so its
    /// space goes back at once. Readers never saw it (they stop at <see cref="Size"/>); the close would cut it too.
    /// </summary>
    public void TruncateToSize()
    {
        try
        {
            using var lease = AcquireLog();
            if (RandomAccess.GetLength(lease.Handle) > _size)
            {
                RandomAccess.SetLength(lease.Handle, _size);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The next append writes over it at the same position, and the close cuts it.
        }
    }

    /// <summary>Index bookkeeping for one batch, as Kafka's LogSegment.append does it.</summary>
    private void OnBatch(long lastOffset, long maxTimestamp, int position, int size, int indexIntervalBytes)
    {
        if (maxTimestamp > _maxTimestamp)
        {
            Volatile.Write(ref _maxTimestamp, maxTimestamp);
            Volatile.Write(ref _offsetOfMaxTimestamp, lastOffset);
        }

        if (_bytesSinceLastIndexEntry > indexIntervalBytes
            && (!OffsetIndex.TryGetLast(out var lastKey, out _) || lastOffset - BaseOffset > lastKey))
        {
            OffsetIndex.Append(lastOffset - BaseOffset, position);
            MaybeAppendTimeEntry();
            _bytesSinceLastIndexEntry = 0;
        }

        _bytesSinceLastIndexEntry += size;
        Volatile.Write(ref _nextOffset, lastOffset + 1);
    }

    private void MaybeAppendTimeEntry()
    {
        if (_maxTimestamp < 0)
        {
            return;
        }

        if (!TimeIndex.TryGetLast(out var lastTs, out var lastRel) || (_maxTimestamp > lastTs && _offsetOfMaxTimestamp - BaseOffset > lastRel))
        {
            TimeIndex.Append(_maxTimestamp, (int)(_offsetOfMaxTimestamp - BaseOffset));
        }
    }

    /// <summary>True when another entry might not fit in an index (Kafka keeps the time index's last slot for the roll entry).</summary>
    public bool IndexesFull => OffsetIndex.IsFull || TimeIndex.Count >= TimeIndex.MaxEntries - 1;

    /// <summary>
    /// Called when the segment stops being the active one (roll, close): records its max timestamp in the time
    /// index and writes both indexes.
    /// </summary>
    public void OnBecomeInactive()
    {
        MaybeAppendTimeEntry();
        OffsetIndex.Persist();
        TimeIndex.Persist();
    }

    /// <summary>
    /// A reference to the open <c>.log</c> handle, reopening the file if the cache closed it. Dispose it after
    /// the read. Throws <see cref="ObjectDisposedException"/> once the segment is closed.
    /// </summary>
    public SegmentFileLease AcquireLog()
    {
        while (true)
        {
            var shared = Volatile.Read(ref _log);
            if (shared is not null)
            {
                if (shared.TryAddReference())
                {
                    RecentlyUsed = true;
                    return new SegmentFileLease(shared);
                }

                // Closed under us (evicted and released): forget it and reopen.
                Interlocked.CompareExchange(ref _log, null, shared);
                continue;
            }

            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            var opened = new SharedFileHandle(OpenLogFile());
            if (Interlocked.CompareExchange(ref _log, opened, null) is not null)
            {
                opened.Release();
                continue;
            }

            if (Volatile.Read(ref _disposed) != 0)
            {
                DropHandle();
                throw new ObjectDisposedException(LogPath);
            }

            if (!_closing)
            {
                _cache.Add(this);
            }
        }
    }

    /// <summary>Drops the owning reference to the handle (cache eviction, close); readers still using it finish first.</summary>
    internal void DropHandle() => Interlocked.Exchange(ref _log, null)?.Release();

    private SafeFileHandle OpenLogFile()
    {
        var path = LogPath;
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException) when (!ReferenceEquals(path, LogPath))
        {
            // Renamed .deleted meanwhile.
            return File.OpenHandle(LogPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException e) when (IsDeleted || Volatile.Read(ref _disposed) != 0)
        {
            throw new ObjectDisposedException($"Segment {path} was deleted.", e);
        }
    }

    /// <summary>
    /// Scans the file from the start, rebuilding both indexes, the max timestamp and the next offset. Stops at the
    /// first batch that is torn, malformed, out of order or (with <paramref name="validateCrc"/>) fails its CRC,
    /// and truncates the file there. Returns the number of bytes truncated. <paramref name="onBatch"/> sees each
    /// kept batch's partition leader epoch and base offset.
    /// </summary>
    public long Rebuild(bool validateCrc, int indexIntervalBytes, out string? firstProblem, Action<int, long>? onBatch = null)
    {
        OffsetIndex.Reset();
        TimeIndex.Reset();
        _maxTimestamp = -1;
        _offsetOfMaxTimestamp = -1;
        _bytesSinceLastIndexEntry = 0;
        _nextOffset = BaseOffset;
        RollBaseMs = -1;
        firstProblem = null;

        using var lease = AcquireLog();
        var log = lease.Handle;
        var fileLength = RandomAccess.GetLength(log);
        long position = 0;
        var expectedNext = BaseOffset;
        byte[]? batchBuffer = null;
        Span<byte> header = stackalloc byte[RecordBatchHeader.Size];
        try
        {
            while (position < fileLength)
            {
                if (fileLength - position < RecordBatchHeader.Size)
                {
                    firstProblem = $"{fileLength - position} trailing bytes, less than a batch header";
                    break;
                }

                SparseIndex.ReadFully(log, header, position);
                var h = new RecordBatchHeader(header);
                var batchLength = h.BatchLength;
                if (batchLength < RecordBatchHeader.Size - RecordBatchHeader.LogOverhead || position + RecordBatchHeader.LogOverhead + (long)batchLength > fileLength)
                {
                    firstProblem = $"batch length {batchLength} at position {position} does not fit the file ({fileLength} bytes)";
                    break;
                }

                if (h.Magic != 2)
                {
                    firstProblem = $"magic {h.Magic} at position {position}";
                    break;
                }

                if (h.BaseOffset < expectedNext || h.LastOffsetDelta < 0 || h.LastOffset - BaseOffset > int.MaxValue)
                {
                    firstProblem = $"offsets {h.BaseOffset}..{h.LastOffset} at position {position} out of order (expected >= {expectedNext})";
                    break;
                }

                var total = h.TotalSize;
                if (validateCrc)
                {
                    if (batchBuffer is null || batchBuffer.Length < total)
                    {
                        if (batchBuffer is not null)
                        {
                            ArrayPool<byte>.Shared.Return(batchBuffer);
                        }

                        batchBuffer = ArrayPool<byte>.Shared.Rent(total);
                    }

                    var batch = batchBuffer.AsSpan(0, total);
                    if (SparseIndex.ReadFully(log, batch, position) != total)
                    {
                        firstProblem = $"short read at position {position}";
                        break;
                    }

                    var crc = Crc32C.Compute(batch[RecordBatchHeader.CrcCoveredStart..]);
                    if (crc != h.Crc)
                    {
                        firstProblem = $"CRC mismatch at position {position} (stored {h.Crc:x8}, computed {crc:x8})";
                        break;
                    }
                }

                if (RollBaseMs < 0)
                {
                    RollBaseMs = h.MaxTimestamp; // -1 (no timestamp): the next append starts the clock
                }

                OnBatch(h.LastOffset, h.MaxTimestamp, (int)position, total, indexIntervalBytes);
                onBatch?.Invoke(h.PartitionLeaderEpoch, h.BaseOffset);
                expectedNext = h.LastOffset + 1;
                position += total;
            }
        }
        finally
        {
            if (batchBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(batchBuffer);
            }
        }

        var truncated = fileLength - position;
        if (truncated > 0)
        {
            RandomAccess.SetLength(log, position);
        }

        try
        {
            OffsetIndex.Persist();
            TimeIndex.Persist();
        }
        catch (IOException e) when (DiskSpace.IsOutOfSpace(e))
        {
            // The rebuilt entries are in memory, and the whole file is rewritten by the next flush or the close: a
            // full disk does not stop a recovery (which only ever shrinks the log).
        }

        Volatile.Write(ref _size, (int)position);
        return truncated;
    }

    /// <summary>
    /// After opening with usable indexes: reads headers from the last offset-index entry to the end, to learn the
    /// next offset, max timestamp and bytes since the last index entry, and to index the batches the index file
    /// lacks (it is written at roll, flush and close, so it may lag the log). Trailing bytes that are not a whole
    /// batch are cut.
    /// </summary>
    public void LoadTail(int indexIntervalBytes)
    {
        long position = 0;
        if (OffsetIndex.TryGetLast(out var rel, out var indexedPosition))
        {
            position = indexedPosition;
            _nextOffset = BaseOffset + rel + 1;
        }

        // Kafka resets the counter when it indexes a batch, then counts that batch: start at the indexed batch
        // with zero, and OnBatch indexes the rest as the appends would have.
        _bytesSinceLastIndexEntry = 0;
        var size = _size;
        using var lease = AcquireLog();
        using (var scanner = new BatchScanner(lease.Handle, size))
        {
            while (scanner.TryReadHeader(position, out var bytes))
            {
                var h = new RecordBatchHeader(bytes);
                if (position == 0 && h.MaxTimestamp >= 0)
                {
                    RollBaseMs = h.MaxTimestamp;
                }

                OnBatch(h.LastOffset, h.MaxTimestamp, (int)position, h.TotalSize, indexIntervalBytes);
                position += h.TotalSize;
            }
        }

        if (position < size)
        {
            RandomAccess.SetLength(lease.Handle, position);
            _size = (int)position;
        }

        if (RollBaseMs < 0 && _size > 0)
        {
            using var s = new BatchScanner(lease.Handle, _size);
            RollBaseMs = s.TryReadHeader(0, out var firstHeader) ? new RecordBatchHeader(firstHeader).MaxTimestamp : -1;
        }
    }

    /// <summary>
    /// Position of the batch containing <paramref name="offset"/> (the first batch whose last offset is &gt;= it),
    /// searching from the offset index's hint. -1 when the segment has no such batch below <paramref name="limit"/>.
    /// </summary>
    public long FindBatchPosition(long offset, long limit)
    {
        long position = 0;
        if (OffsetIndex.TryFloor(offset - BaseOffset, strict: false, out _, out var hint))
        {
            position = hint;
        }

        using var lease = AcquireLog();
        using var scanner = new BatchScanner(lease.Handle, limit);
        while (scanner.TryReadHeader(position, out var bytes))
        {
            var h = new RecordBatchHeader(bytes);
            if (h.LastOffset >= offset)
            {
                return position;
            }

            position += h.TotalSize;
        }

        return -1;
    }

    /// <summary>
    /// Cuts the segment at the batch containing <paramref name="offset"/> and rebuilds its indexes; the transaction
    /// index loses the entries of markers at or after it.
    /// </summary>
    public void TruncateTo(long offset, int indexIntervalBytes)
    {
        TxnIndex.TruncateTo(offset);
        var position = FindBatchPosition(offset, Size);
        if (position < 0)
        {
            return;
        }

        using (var lease = AcquireLog())
        {
            RandomAccess.SetLength(lease.Handle, position);
        }

        Rebuild(validateCrc: false, indexIntervalBytes, out _);
    }

    /// <summary>Reads bytes of the log file.</summary>
    public int Read(Span<byte> destination, long position)
    {
        using var lease = AcquireLog();
        return SparseIndex.ReadFully(lease.Handle, destination, position);
    }

    /// <summary>fsyncs the log, then writes and fsyncs the indexes (the only time an active segment's are written).</summary>
    public void Flush()
    {
        using (var lease = AcquireLog())
        {
            RandomAccess.FlushToDisk(lease.Handle);
        }

        OffsetIndex.Persist(fsync: true);
        TimeIndex.Persist(fsync: true);
        TxnIndex.Flush();
    }

    /// <summary>Renames the files with a <c>.deleted</c> suffix; in-flight readers keep (or reopen) the log.</summary>
    public void MarkDeleted()
    {
        IsDeleted = true;
        var newLogPath = LogPath + DeletedSuffix;
        File.Move(LogPath, newLogPath, overwrite: true);
        LogPath = newLogPath;
        OffsetIndex.Rename(OffsetIndex.Path + DeletedSuffix);
        TimeIndex.Rename(TimeIndex.Path + DeletedSuffix);
        TxnIndex.Rename(TxnIndex.Path + DeletedSuffix);
    }

    /// <summary>Closes the handles and removes the files.</summary>
    public void DeleteFiles()
    {
        IsDeleted = true;
        Close();
        TryDelete(LogPath);
        TryDelete(OffsetIndex.Path);
        TryDelete(TimeIndex.Path);
        TryDelete(TxnIndex.Path);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Truncates stray bytes past the published size, writes the indexes (unless deleted) and drops the handle
    /// (closed once no read uses it).
    /// </summary>
    public void Close()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        try
        {
            if (!IsDeleted)
            {
                using (var lease = AcquireLog())
                {
                    if (RandomAccess.GetLength(lease.Handle) > _size)
                    {
                        RandomAccess.SetLength(lease.Handle, _size);
                    }
                }

                OffsetIndex.Persist();
                TimeIndex.Persist();
            }
        }
        finally
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                _closing = true; // keeps a racing reopen out of the cache
                _cache.Remove(this);
                DropHandle();
            }
        }
    }
}
