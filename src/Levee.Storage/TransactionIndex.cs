using System.Buffers.Binary;
using Levee.Storage.ProducerState;

namespace Levee.Storage;

/// <summary>
/// A segment's transaction index, Kafka's <c>&lt;20-digit base offset&gt;.txnindex</c>: one 34-byte big-endian
/// entry (int16 version 0, int64 producer id, int64 first offset, int64 last offset, int64 last stable offset) per
/// transaction aborted by a marker in the segment, in marker order. The file exists only once an entry does.
/// </summary>
/// <remarks>
/// Written under the partition's lock; read without it: the entries are an array replaced, never mutated, on each
/// change. Aborts are rare, so a copy per entry costs nothing that matters. Each write opens the file, appends or
/// cuts, and closes it (no descriptor held); <see cref="Flush"/> fsyncs it with its segment.
/// </remarks>
internal sealed class TransactionIndex
{
    /// <summary>File name suffix.</summary>
    public const string Suffix = ".txnindex";

    /// <summary>Bytes per entry.</summary>
    public const int EntrySize = 2 + 8 + 8 + 8 + 8;

    private const short EntryVersion = 0;

    private AbortedTxnEntry[] _entries;
    private volatile bool _unflushed;

    private TransactionIndex(string path, AbortedTxnEntry[] entries)
    {
        Path = path;
        _entries = entries;
    }

    /// <summary>The file's current path (renamed <c>.deleted</c> with its segment).</summary>
    public string Path { get; private set; }

    /// <summary>The entries, in marker order.</summary>
    public IReadOnlyList<AbortedTxnEntry> Entries => Volatile.Read(ref _entries);

    /// <summary>
    /// Loads the index at <paramref name="path"/> (none: empty). A torn last entry (a write cut short) is dropped
    /// and cut from the file.
    /// </summary>
    public static TransactionIndex Open(string path)
    {
        if (!File.Exists(path))
        {
            return new TransactionIndex(path, []);
        }

        var bytes = File.ReadAllBytes(path);
        var count = bytes.Length / EntrySize;
        var entries = new AbortedTxnEntry[count];
        for (var i = 0; i < count; i++)
        {
            entries[i] = Decode(bytes.AsSpan(i * EntrySize, EntrySize));
        }

        if (bytes.Length != count * EntrySize)
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
            RandomAccess.SetLength(file, count * EntrySize);
        }

        return new TransactionIndex(path, entries);
    }

    /// <summary>Appends an entry to the file and to the entries.</summary>
    public void Append(AbortedTxnEntry entry)
    {
        Span<byte> bytes = stackalloc byte[EntrySize];
        BinaryPrimitives.WriteInt16BigEndian(bytes, EntryVersion);
        BinaryPrimitives.WriteInt64BigEndian(bytes[2..], entry.ProducerId);
        BinaryPrimitives.WriteInt64BigEndian(bytes[10..], entry.FirstOffset);
        BinaryPrimitives.WriteInt64BigEndian(bytes[18..], entry.LastOffset);
        BinaryPrimitives.WriteInt64BigEndian(bytes[26..], entry.LastStableOffset);
        var entries = _entries;
        using (var file = File.OpenHandle(Path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            // Position from the entries, not the file's length: a torn write before this one is overwritten.
            RandomAccess.Write(file, bytes, (long)entries.Length * EntrySize);
            RandomAccess.SetLength(file, (long)(entries.Length + 1) * EntrySize);
        }

        _unflushed = true;
        Volatile.Write(ref _entries, [.. entries, entry]);
    }

    /// <summary>Drops the entries whose marker is at or after <paramref name="offset"/> (log truncation).</summary>
    public void TruncateTo(long offset)
    {
        var entries = _entries;
        var keep = entries.Length;
        while (keep > 0 && entries[keep - 1].LastOffset >= offset)
        {
            keep--;
        }

        if (keep == entries.Length)
        {
            return;
        }

        Volatile.Write(ref _entries, entries[..keep]);
        if (keep == 0)
        {
            File.Delete(Path);
            return;
        }

        using var file = File.OpenHandle(Path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        RandomAccess.SetLength(file, (long)keep * EntrySize);
    }

    /// <summary>Removes every entry and the file (before recovery rebuilds the index from the segment's markers).</summary>
    public void Reset() => TruncateTo(long.MinValue);

    /// <summary>fsyncs the file if entries were written since the last flush.</summary>
    public void Flush()
    {
        if (!_unflushed || _entries.Length == 0)
        {
            return;
        }

        // Cleared first: an entry appended during the fsync (the flush runs outside the partition lock) sets it again.
        _unflushed = false;
        try
        {
            using var file = File.OpenHandle(Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            RandomAccess.FlushToDisk(file);
        }
        catch
        {
            _unflushed = true;
            throw;
        }
    }

    /// <summary>Renames the file (when it exists), e.g. to <c>.deleted</c>.</summary>
    public void Rename(string newPath)
    {
        if (File.Exists(Path))
        {
            File.Move(Path, newPath, overwrite: true);
        }

        Path = newPath;
    }

    /// <summary>Writes <paramref name="entries"/> as a complete index file at <paramref name="path"/> (fsynced), for a cleaned segment.</summary>
    public static void WriteFile(string path, IReadOnlyList<AbortedTxnEntry> entries)
    {
        var index = new TransactionIndex(path, []);
        File.Delete(path);
        foreach (var entry in entries)
        {
            index.Append(entry);
        }

        index.Flush();
    }

    private static AbortedTxnEntry Decode(ReadOnlySpan<byte> e) => new(
        BinaryPrimitives.ReadInt64BigEndian(e[2..]),
        BinaryPrimitives.ReadInt64BigEndian(e[10..]),
        BinaryPrimitives.ReadInt64BigEndian(e[18..]),
        BinaryPrimitives.ReadInt64BigEndian(e[26..]));
}
