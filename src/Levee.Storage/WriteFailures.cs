namespace Levee.Storage;

/// <summary>
/// Whether one kind of write (a partition's appends, a data directory's checkpoints and flushes) is failing now, and
/// since when, so that a full disk is logged when the writes start failing and when they work again, not at every
/// attempt: a producer retrying every 100 ms once logged a stack trace per refused append (400 KB in 4 s, issue 12).
/// </summary>
internal sealed class WriteFailures
{
    private readonly Lock _lock = new();
    private long _sinceMs = -1;
    private long _count;

    /// <summary>True from a failure to the next success.</summary>
    public bool IsFailing => Volatile.Read(ref _sinceMs) >= 0;

    /// <summary>Counts a failure; true when it is the first of a run of them (the caller logs it).</summary>
    public bool Failed(long nowMs)
    {
        lock (_lock)
        {
            _count++;
            if (_sinceMs >= 0)
            {
                return false;
            }

            Volatile.Write(ref _sinceMs, nowMs);
            return true;
        }
    }

    /// <summary>
    /// A success: ends the run of failures, returning how long it lasted and how many writes failed in it; null when
    /// none was running (the common case, which takes no lock).
    /// </summary>
    public (long DurationMs, long Failures)? Succeeded(long nowMs)
    {
        if (Volatile.Read(ref _sinceMs) < 0)
        {
            return null;
        }

        lock (_lock)
        {
            if (_sinceMs < 0)
            {
                return null;
            }

            var ended = (Math.Max(0, nowMs - _sinceMs), _count);
            Volatile.Write(ref _sinceMs, -1);
            _count = 0;
            return ended;
        }
    }
}
