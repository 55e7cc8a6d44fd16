using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Levee.Storage;

/// <summary>
/// A sparse, append-only index file of fixed-size big-endian entries (key, int32 value), kept in memory for
/// lookups and written through to the file. Two layouts, as Kafka's:
/// <list type="bullet">
/// <item><c>.index</c>: int32 relative offset, int32 file position (8 bytes).</item>
/// <item><c>.timeindex</c>: int64 timestamp, int32 relative offset (12 bytes).</item>
/// </list>
/// Kafka pre-allocates and memory-maps its index files; we append exactly the entries written, so a file is
/// always its entry count times the entry size, and nothing needs trimming on close.
/// </summary>
/// <remarks>
/// Concurrency: one writer (the partition's append lock) and lock-free readers. The arrays and their count live
/// together in an immutable-shape <see cref="Entries"/> object; the writer fills a slot, then publishes the count
/// with a volatile write, and replaces the whole object when it grows or resets. A reader takes one object and
/// one count, so it always sees a consistent prefix.
/// </remarks>
internal sealed class SparseIndex : IDisposable
{
    private sealed class Entries(int capacity)
    {
        public readonly long[] Keys = new long[capacity];
        public readonly int[] Values = new int[capacity];
        public int Count;
    }

    private readonly SafeFileHandle _file;
    private readonly int _keySize;
    private Entries _entries = new(16);
    private int _persisted;

    private SparseIndex(string path, SafeFileHandle file, int keySize, int maxIndexBytes)
    {
        Path = path;
        _file = file;
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

    /// <summary>Size of the index on disk.</summary>
    public long SizeInBytes => (long)_persisted * EntrySize;

    /// <summary>Opens (creating if missing) an index file.</summary>
    /// <param name="path">File path.</param>
    /// <param name="keySize">4 for the offset index, 8 for the time index.</param>
    /// <param name="maxIndexBytes"><c>segment.index.bytes</c>.</param>
    /// <param name="load">Read existing entries; false truncates the file (it will be rebuilt).</param>
    /// <param name="loaded">False when existing content was unreadable (length not a multiple of the entry size,
    /// or keys not strictly increasing); the index is then empty and must be rebuilt.</param>
    public static SparseIndex Open(string path, int keySize, int maxIndexBytes, bool load, out bool loaded)
    {
        var file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        var index = new SparseIndex(path, file, keySize, maxIndexBytes);
        loaded = load && index.TryLoad();
        if (!loaded)
        {
            index.Reset();
        }

        return index;
    }

    private bool TryLoad()
    {
        var length = RandomAccess.GetLength(_file);
        if (length % EntrySize != 0 || length > int.MaxValue)
        {
            return false;
        }

        var count = (int)(length / EntrySize);
        var entries = new Entries(Math.Max(16, count));
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, (int)length));
        try
        {
            var read = ReadFully(_file, buffer.AsSpan(0, (int)length), 0);
            if (read != length)
            {
                return false;
            }

            for (var i = 0; i < count; i++)
            {
                var entry = buffer.AsSpan(i * EntrySize, EntrySize);
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
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
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

    /// <summary>Writes entries added since the last call, in one write.</summary>
    public void Persist()
    {
        var entries = _entries;
        var pending = entries.Count - _persisted;
        if (pending <= 0)
        {
            return;
        }

        var bytes = pending * EntrySize;
        var buffer = ArrayPool<byte>.Shared.Rent(bytes);
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

            RandomAccess.Write(_file, buffer.AsSpan(0, bytes), (long)_persisted * EntrySize);
            _persisted = entries.Count;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Empties the index (memory and file). Readers holding the old entries keep a consistent view.</summary>
    public void Reset()
    {
        Volatile.Write(ref _entries, new Entries(16));
        _persisted = 0;
        RandomAccess.SetLength(_file, 0);
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

    /// <summary>fsyncs the index file.</summary>
    public void Flush() => RandomAccess.FlushToDisk(_file);

    /// <summary>Renames the file while it stays open (used for <c>.deleted</c>).</summary>
    public void Rename(string newPath)
    {
        File.Move(Path, newPath, overwrite: true);
        Path = newPath;
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();

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
