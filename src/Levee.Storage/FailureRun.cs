namespace Levee.Storage;

/// <summary>
/// A run of repeated failures of one thing (a partition's appends, a replica fetcher's connection, a quorum peer), so
/// that a log says when it starts failing, how often it went on failing every so often, and when it works again,
/// instead of a line at every retry: a producer retrying every 100 ms once logged a stack trace per refused append
/// (400 KB in 4 s, issue 12), and a stopped quorum voter made the leader log one four times a second (issue 13).
/// </summary>
/// <remarks>
/// The caller decides what one failure is and logs what <see cref="Failed"/> and <see cref="Succeeded"/> return; this
/// type only counts, under a lock, so that it may be shared by threads. A run that should stay quiet while it is brief
/// (an error answered while a leadership moves) is reported only from its <c>reportAfter</c>-th failure on.
/// </remarks>
public sealed class FailureRun
{
    private readonly Lock _lock = new();
    private readonly long _summaryIntervalMs;
    private readonly int _reportAfter;
    private long _sinceMs = -1;
    private long _lastFailureMs;
    private long _lastReportMs;
    private long _count;
    private long _countAtLastReport;

    /// <summary>A run reported from its <paramref name="reportAfter"/>-th failure, then every <paramref name="summaryInterval"/> while it lasts.</summary>
    public FailureRun(TimeSpan summaryInterval, int reportAfter = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(summaryInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(reportAfter, 1);
        _summaryIntervalMs = (long)summaryInterval.TotalMilliseconds;
        _reportAfter = reportAfter;
    }

    /// <summary>The summary interval of the runs Levee logs: a line when one starts, one every 30 s while it lasts, one when it ends.</summary>
    public static TimeSpan DefaultSummaryInterval { get; } = TimeSpan.FromSeconds(30);

    /// <summary>True from a failure to the next success.</summary>
    public bool IsFailing => Volatile.Read(ref _sinceMs) >= 0;

    /// <summary>Counts a failure and says whether to log it: the start of a run, a summary of it, or nothing.</summary>
    public FailureNote Failed(long nowMs)
    {
        lock (_lock)
        {
            _count++;
            _lastFailureMs = nowMs;
            if (_sinceMs < 0)
            {
                Volatile.Write(ref _sinceMs, nowMs);
            }

            var duration = Math.Max(0, nowMs - _sinceMs);
            if (_count < _reportAfter)
            {
                return new FailureNote(FailureNoteKind.Counted, _count, 0, duration);
            }

            if (_count == _reportAfter)
            {
                _lastReportMs = nowMs;
                _countAtLastReport = _count;
                return new FailureNote(FailureNoteKind.Started, _count, _count, duration);
            }

            if (nowMs - _lastReportMs >= _summaryIntervalMs)
            {
                var since = _count - _countAtLastReport;
                _lastReportMs = nowMs;
                _countAtLastReport = _count;
                return new FailureNote(FailureNoteKind.Repeated, _count, since, duration);
            }

            return new FailureNote(FailureNoteKind.Counted, _count, 0, duration);
        }
    }

    /// <summary>
    /// A success: ends the run of failures, returning how long it lasted, how many failed in it and whether it had been
    /// reported; null when none was running (the common case, which takes no lock).
    /// </summary>
    public FailureRunEnd? Succeeded(long nowMs)
    {
        if (Volatile.Read(ref _sinceMs) < 0)
        {
            return null;
        }

        lock (_lock)
        {
            return EndLocked(nowMs);
        }
    }

    /// <summary>
    /// Ends the run when nothing failed for <paramref name="quietMs"/>: for failures whose successes are not seen (a
    /// library's log says only when something fails). Null when no run ended.
    /// </summary>
    public FailureRunEnd? EndIfQuiet(long nowMs, long quietMs)
    {
        if (Volatile.Read(ref _sinceMs) < 0)
        {
            return null;
        }

        lock (_lock)
        {
            return _sinceMs >= 0 && nowMs - _lastFailureMs >= quietMs ? EndLocked(nowMs) : null;
        }
    }

    private FailureRunEnd? EndLocked(long nowMs)
    {
        if (_sinceMs < 0)
        {
            return null;
        }

        var ended = new FailureRunEnd(Math.Max(0, nowMs - _sinceMs), _count, _count >= _reportAfter);
        Volatile.Write(ref _sinceMs, -1);
        _count = 0;
        _countAtLastReport = 0;
        return ended;
    }
}

/// <summary>What a failure of a <see cref="FailureRun"/> calls for.</summary>
public enum FailureNoteKind
{
    /// <summary>Counted only: log it at Debug at most.</summary>
    Counted,

    /// <summary>The run is to be reported now: one line, without a stack trace.</summary>
    Started,

    /// <summary>A summary interval has passed since the last report: one line with the count.</summary>
    Repeated,
}

/// <summary>A failure counted by <see cref="FailureRun.Failed"/>.</summary>
/// <param name="Kind">What to log.</param>
/// <param name="Failures">Failures in the run so far, this one included.</param>
/// <param name="SinceLastReport">Failures since the previous report (for <see cref="FailureNoteKind.Repeated"/>).</param>
/// <param name="DurationMs">How long the run has lasted.</param>
public readonly record struct FailureNote(FailureNoteKind Kind, long Failures, long SinceLastReport, long DurationMs);

/// <summary>A run of failures that ended.</summary>
/// <param name="DurationMs">From its first failure to its end.</param>
/// <param name="Failures">How many failed in it.</param>
/// <param name="WasReported">Whether its start was reported (so its end is worth a line).</param>
public readonly record struct FailureRunEnd(long DurationMs, long Failures, bool WasReported);
