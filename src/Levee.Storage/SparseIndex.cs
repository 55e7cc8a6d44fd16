using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Levee.Storage;

/// <summary>
/// A sparse, append-only index file of fixed-size big-endian entries (key, int32 value), kept in memory for
/// lookups. Two layouts, as Kafka's:
/// <list type="bullet">
/// <item><c>.index</c>: int32 relative offset, int32 file position (8 bytes).</item>
/// <item><c>.timeindex</c>: int64 timestamp, int32 relative offset (12 bytes).</item>
/// </list>
/// The file holds no descriptor: <see cref="Persist"/> opens it, writes the entries added since the last call,
/// optionally fsyncs, and closes it. The partition calls it when the segment rolls, on flush and on clean close,
/// so a file may lag its log after a crash; opening treats a short file as a prefix and the segment extends it
/// from its last entry (recovery rebuilds it anyway). Kafka pre-allocates and memory-maps its index files; we
/// write exactly the entries, so a file is its entry count times the entry size.
/// </summary>
/// <remarks>
/// Concurrency: one writer (the partition's append lock) and lock-free readers. The arrays and their count live
/// together in an immutable-shape <see cref="Entries"/> object; the writer fills a slot, then publishes the count
/// with a volatile write, and replaces the whole object when it grows or resets. A reader takes one object and
/// one count, so it always sees a consistent prefix. File writes (<see cref="Persist"/>, which a flush may call
/// outside the append lock, <see cref="Reset"/> and <see cref="Rename"/>) are serialised by their own lock.
/// </remarks>
internal sealed class SparseIndex
{
    private sealed class Entries(int capacity)
    {
        public readonly long[] Keys = new long[capacity];
        public readonly int[] Values = new int[capacity];
        public int Count;
    }

    private readonly Lock _fileLock = new();
    private readonly int _keySize;
    private Entries _entries = new(16);
    private int _persisted;
    private bool _rewrite;
    private bool _unsynced;

    private SparseIndex(string path, int keySize, int maxIndexBytes)
    {
        Path = path;
        _keySize = keySize;
        MaxEntries = Math.Max(1, maxIndexBytes / EntrySize);
    }

    /// <summary>The file's current path (changes when the segment is renamed <c>.deleted</c>).</summary>
    public string Path { get; private set; }

    /// <summary>Bytes per entry: 8 for the offset index, 12 for the time index.</summary>
    public int EntrySize => _keySize + 4;

    /// <summary>Entries allowed by <c>segment.index.bytes</c>.</summary>
    public int MaxEntries { get; }

    /// <summary>Entries visible to readers.</summary>
    public int Count => Volatile.Read(ref Volatile.Read(ref _entries).Count);

    /// <summary>Size of the index on disk as of the last <see cref="Persist"/>.</summary>
    public long SizeInBytes => (long)Volatile.Read(ref _persisted) * EntrySize;

    /// <summary>Loads an index file (no descriptor is kept).</summary>
    /// <param name="path">File path.</param>
    /// <param name="keySize">4 for the offset index, 8 for the time index.</param>
    /// <param name="maxIndexBytes"><c>segment.index.bytes</c>.</param>
    /// <param name="load">Read existing entries; false starts empty (the file is replaced at the next <see cref="Persist"/>).</param>
    /// <param name="loaded">False when the file is missing or its content unreadable (keys not strictly increasing);
    /// the index is then empty and must be rebuilt. A torn last entry is dropped, not an error: the file may lag.</param>
    public static SparseIndex Open(string path, int keySize, int maxIndexBytes, bool load, out bool loaded)
    {
        var index = new SparseIndex(path, keySize, maxIndexBytes);
        loaded = load && index.TryLoad();
        if (!loaded)
        {
            index.Reset();
        }

        return index;
    }

    private bool TryLoad()
    {
        byte[] content;
        try
        {
            content = File.ReadAllBytes(Path);
        }
        catch (FileNotFoundException)
        {
            return false;
        }

        var count = content.Length / EntrySize;
        var entries = new Entries(Math.Max(16, count));
        for (var i = 0; i < count; i++)
        {
            var entry = content.AsSpan(i * EntrySize, EntrySize);
            var key = _keySize == 4 ? BinaryPrimitives.ReadInt32BigEndian(entry) : BinaryPrimitives.ReadInt64BigEndian(entry);
            var value = BinaryPrimitives.ReadInt32BigEndian(entry[_keySize..]);
            if (i > 0 && key <= entries.Keys[i - 1])
            {
                return false;
            }

            entries.Keys[i] = key;
            entries.Values[i] = value;
        }

        entries.Count = count;
        _entries = entries;
        _persisted = count;

        // A write cut short left part of an entry: drop it (the next Persist rewrites the file's length).
        _rewrite = content.Length % EntrySize != 0;
        return true;
    }

    /// <summary>True when no further entry may be added (the segment must roll).</summary>
    public bool IsFull => Count >= MaxEntries;

    /// <summary>The last entry, or false when empty.</summary>
    public bool TryGetLast(out long key, out int value)
    {
        var entries = Volatile.Read(ref _entries);
        var count = Volatile.Read(ref entries.Count);
        if (count == 0)
        {
            key = 0;
            value = 0;
            return false;
        }

        key = entries.Keys[count - 1];
        value = entries.Values[count - 1];
        return true;
    }

    /// <summary>Adds an entry in memory (writer only); <see cref="Persist"/> writes it. Keys must increase strictly.</summary>
    public void Append(long key, int value)
    {
        var entries = _entries;
        var count = entries.Count;
        if (count > 0 && key <= entries.Keys[count - 1])
        {
            throw new InvalidOperationException($"Index keys must increase: {key} after {entries.Keys[count - 1]} in {Path}.");
        }

        if (count == entries.Keys.Length)
        {
            var grown = new Entries(Math.Min(Math.Max(count * 2, 16), Math.Max(MaxEntries, count + 1)));
            Array.Copy(entries.Keys, grown.Keys, count);
            Array.Copy(entries.Values, grown.Values, count);
            grown.Count = count;
            Volatile.Write(ref _entries, grown);
            entries = grown;
        }

        entries.Keys[count] = key;
        entries.Values[count] = value;
        Volatile.Write(ref entries.Count, count + 1);
    }

    /// <summary>
    /// Writes the entries added since the last call (open, one write, fsync when <paramref name="fsync"/>, close).
    /// Does nothing when the file is already up to date (and, for an fsync, already synced).
    /// </summary>
    public void Persist(bool fsync = false)
    {
        lock (_fileLock)
        {
            var entries = Volatile.Read(ref _entries);
            var count = Volatile.Read(ref entries.Count);
            var pending = count - _persisted;
            if (pending <= 0 && !_rewrite && !(fsync && _unsynced))
            {
                return;
            }

            var bytes = Math.Max(0, pending) * EntrySize;
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, bytes));
            try
            {
                for (var i = 0; i < pending; i++)
                {
                    var entry = buffer.AsSpan(i * EntrySize, EntrySize);
                    var key = entries.Keys[_persisted + i];
                    if (_keySize == 4)
                    {
                        BinaryPrimitives.WriteInt32BigEndian(entry, (int)key);
                    }
                    else
                    {
                        BinaryPrimitives.WriteInt64BigEndian(entry, key);
                    }

                    BinaryPrimitives.WriteInt32BigEndian(entry[_keySize..], entries.Values[_persisted + i]);
                }

                using var file = File.OpenHandle(Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
                if (bytes > 0)
                {
                    RandomAccess.Write(file, buffer.AsSpan(0, bytes), (long)_persisted * EntrySize);
                }

                if (_rewrite)
                {
                    RandomAccess.SetLength(file, (long)count * EntrySize);
                }

                if (fsync)
                {
                    RandomAccess.FlushToDisk(file);
                }

                Volatile.Write(ref _persisted, Math.Max(_persisted, count));
                _rewrite = false;
                _unsynced = !fsync;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// Empties the index in memory; the file is cut at the next <see cref="Persist"/>. Readers holding the old
    /// entries keep a consistent view.
    /// </summary>
    public void Reset()
    {
        lock (_fileLock)
        {
            Volatile.Write(ref _entries, new Entries(16));
            Volatile.Write(ref _persisted, 0);
            _rewrite = true;
        }
    }

    /// <summary>
    /// The entry with the largest key &lt;= <paramref name="key"/> (or &lt; when <paramref name="strict"/>);
    /// false when there is none.
    /// </summary>
    public bool TryFloor(long key, bool strict, out long foundKey, out int value)
    {
        var entries = Volatile.Read(ref _entries);
        var count = Volatile.Read(ref entries.Count);
        int lo = 0, hi = count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            var k = entries.Keys[mid];
            if (k < key || (!strict && k == key))
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        if (found < 0)
        {
            foundKey = 0;
            value = 0;
            return false;
        }

        foundKey = entries.Keys[found];
        value = entries.Values[found];
        return true;
    }

    /// <summary>The entry at <paramref name="i"/> (tests and sanity checks).</summary>
    public (long Key, int Value) this[int i]
    {
        get
        {
            var entries = Volatile.Read(ref _entries);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, Volatile.Read(ref entries.Count));
            return (entries.Keys[i], entries.Values[i]);
        }
    }

    /// <summary>Renames the file, if it was written yet (used for <c>.deleted</c>).</summary>
    public void Rename(string newPath)
    {
        lock (_fileLock)
        {
            if (File.Exists(Path))
            {
                File.Move(Path, newPath, overwrite: true);
            }

            Path = newPath;
        }
    }

    internal static int ReadFully(SafeFileHandle file, Span<byte> destination, long position)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var n = RandomAccess.Read(file, destination[total..], position + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }
}
