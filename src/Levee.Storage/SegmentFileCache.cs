using Microsoft.Win32.SafeHandles;

namespace Levee.Storage;

/// <summary>
/// A file handle shared by a segment and its in-flight readers. The segment (or the cache, for an inactive
/// segment) owns one reference; every read takes another for its duration. The descriptor is closed when the
/// last reference goes, so evicting a handle never breaks a read that is using it.
/// </summary>
internal sealed class SharedFileHandle(SafeFileHandle handle)
{
    private int _references = 1;

    public SafeFileHandle Handle { get; } = handle;

    /// <summary>Takes a reference; false when the handle is already closed (the caller reopens the file).</summary>
    public bool TryAddReference()
    {
        var current = Volatile.Read(ref _references);
        while (current > 0)
        {
            var seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Handle.Dispose();
        }
    }
}

/// <summary>A reference to a segment's log file handle, held for one read; dispose to release it.</summary>
internal readonly struct SegmentFileLease : IDisposable
{
    private readonly SharedFileHandle _shared;

    public SegmentFileLease(SharedFileHandle shared) => _shared = shared;

    public SafeFileHandle Handle => _shared.Handle;

    public void Dispose() => _shared?.Release();
}

/// <summary>
/// The open <c>.log</c> handles of all segments of a <see cref="LogManager"/>, active ones included, at most
/// <see cref="Capacity"/>: beyond it the least recently used is closed, and its segment reopens the file on its next
/// read or append. So any number of partitions fit in a fixed descriptor budget, and a broker with more partitions
/// than the budget only pays an <c>open</c> for a partition it had not touched for a while.
/// </summary>
/// <remarks>
/// Recency is a "second chance" clock rather than a strict LRU: a use only sets <see cref="LogSegment.RecentlyUsed"/>
/// (no lock on the append and read paths), and the eviction sweep moves a recently used segment back to the front
/// once, clearing the flag, before it closes anything.
/// </remarks>
internal sealed class SegmentFileCache
{
    /// <summary>Used by logs opened without a <see cref="LogManager"/>.</summary>
    public static readonly SegmentFileCache Shared = new(LogManagerOptions.DefaultMaxOpenSegmentFiles);

    private readonly Lock _lock = new();
    private readonly LinkedList<LogSegment> _lru = new();

    public SegmentFileCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>Most segments with an open log handle.</summary>
    public int Capacity { get; }

    /// <summary>Segments holding an open log handle now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _lru.Count;
            }
        }
    }

    /// <summary>Adds (or refreshes) a segment that has just opened its handle; closes the least recently used beyond the capacity.</summary>
    public void Add(LogSegment segment)
    {
        List<LogSegment>? evicted = null;
        lock (_lock)
        {
            var node = segment.CacheNode;
            if (node.List is not null)
            {
                _lru.Remove(node);
            }

            _lru.AddFirst(node);
            var secondChances = _lru.Count;
            while (_lru.Count > Capacity)
            {
                var last = _lru.Last!;
                _lru.RemoveLast();
                if (last.Value.RecentlyUsed && secondChances-- > 0)
                {
                    last.Value.RecentlyUsed = false;
                    _lru.AddFirst(last);
                    continue;
                }

                (evicted ??= []).Add(last.Value);
            }
        }

        // Outside the lock: closing never waits for a reader, it only drops the cache's reference.
        if (evicted is not null)
        {
            foreach (var victim in evicted)
            {
                victim.DropHandle();
            }
        }
    }

    /// <summary>Forgets a segment (it closed). Does not close its handle.</summary>
    public void Remove(LogSegment segment)
    {
        lock (_lock)
        {
            var node = segment.CacheNode;
            if (node.List is not null)
            {
                _lru.Remove(node);
            }
        }
    }
}
