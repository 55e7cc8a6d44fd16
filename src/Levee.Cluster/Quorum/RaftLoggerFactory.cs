using System.Collections.Concurrent;
using Levee.Storage;
using Microsoft.Extensions.Logging;

namespace Levee.Cluster.Quorum;

/// <summary>
/// The logger factory the Raft library gets: its warnings and errors are logged once per run of identical ones, not
/// at every retry, and its stack traces only at Debug. Anything below Warning passes unchanged.
/// </summary>
/// <remarks>
/// <para>
/// A stopped voter made the leader's DotNext log "Cluster member ... is unavailable" with a full stack trace at
/// every heartbeat, four times a second, for as long as the voter stayed down (issue 13). An entry at Warning or above
/// is now a <see cref="FailureRun"/> keyed by its category, event id and message: the first is logged (at its own level,
/// the exception's type and message appended, no stack trace), then one line with the count every
/// <see cref="FailureRun.DefaultSummaryInterval"/> while it repeats, and one when it has not recurred for
/// <see cref="QuietPeriod"/> (DotNext logs no success to end a run with). Every entry, with its stack trace, is still
/// logged at Debug.
/// </para>
/// <para>
/// Stopping: DotNext logs a state transition cancelled by its own StopAsync (an election timer that fired while the
/// voter was stopping: "Transition to candidate state has failed" with a TaskCanceledException) as Critical. Once the
/// quorum is stopping, such a cancellation is what stopping means, not a failure: it is logged at Debug.
/// </para>
/// </remarks>
internal sealed partial class RaftLoggerFactory : ILoggerFactory
{
    /// <summary>A run of identical entries that has not recurred for this long has ended.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(5);

    private readonly ILoggerFactory _inner;
    private readonly Func<bool> _stopping;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Category, int EventId, string Message), Run> _runs = new();
    private readonly ITimer _timer;

    public RaftLoggerFactory(ILoggerFactory inner, Func<bool> stopping, TimeProvider time)
    {
        _inner = inner;
        _stopping = stopping;
        _time = time;
        _timer = time.CreateTimer(_ => EndQuietRuns(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    private long NowMs => (long)_time.GetElapsedTime(0).TotalMilliseconds;

    public ILogger CreateLogger(string categoryName) => new RaftLogger(this, _inner.CreateLogger(categoryName), categoryName);

    public void AddProvider(ILoggerProvider provider) => _inner.AddProvider(provider);

    /// <summary>Stops the timer that ends quiet runs; the inner factory belongs to the host.</summary>
    public void Dispose() => _timer.Dispose();

    private void EndQuietRuns()
    {
        var now = NowMs;
        foreach (var (key, run) in _runs)
        {
            if (run.Failures.EndIfQuiet(now, (long)QuietPeriod.TotalMilliseconds) is { } ended)
            {
                _runs.TryRemove(new KeyValuePair<(string, int, string), Run>(key, run));
                if (ended.WasReported && ended.Failures > 1)
                {
                    LogRunEnded(run.Logger, key.Message, ended.Failures, ended.DurationMs / 1000.0, (long)QuietPeriod.TotalSeconds);
                }
            }
        }
    }

    private void Failed<TState>(ILogger logger, string category, LogLevel level, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        // The full entry, stack trace included, for whoever asks for Debug.
        logger.Log(LogLevel.Debug, eventId, state, exception, formatter);
        var message = formatter(state, exception);
        var run = _runs.GetOrAdd((category, eventId.Id, message), static (_, l) => new Run(new FailureRun(FailureRun.DefaultSummaryInterval), l), logger);
        var note = run.Failures.Failed(NowMs);
        switch (note.Kind)
        {
            case FailureNoteKind.Started:
                LogRunStarted(logger, level, message, exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})", (long)FailureRun.DefaultSummaryInterval.TotalSeconds);
                break;
            case FailureNoteKind.Repeated:
                LogRunRepeated(logger, level, message, note.SinceLastReport, note.DurationMs / 1000.0, exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})");
                break;
        }
    }

    [LoggerMessage(EventName = "RaftProblemStarted", Message = "{Problem}{Cause}; repeats are counted and summarised every {IntervalS} s")]
    private static partial void LogRunStarted(ILogger logger, LogLevel level, string problem, string cause, long intervalS);

    [LoggerMessage(EventName = "RaftProblemRepeated", Message = "{Problem}: {Repeats} more time(s), {DurationS:0} s since it started{Cause}")]
    private static partial void LogRunRepeated(ILogger logger, LogLevel level, string problem, long repeats, double durationS, string cause);

    [LoggerMessage(EventName = "RaftProblemEnded", Level = LogLevel.Information, Message = "{Problem}: no longer ({Failures} time(s) in {DurationS:0} s, none in the last {QuietS} s)")]
    private static partial void LogRunEnded(ILogger logger, string problem, long failures, double durationS, long quietS);

    private sealed record Run(FailureRun Failures, ILogger Logger);

    private sealed class RaftLogger(RaftLoggerFactory factory, ILogger inner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error && exception is OperationCanceledException && factory._stopping())
            {
                inner.Log(LogLevel.Debug, eventId, state, exception, formatter);
                return;
            }

            if (logLevel >= LogLevel.Warning)
            {
                factory.Failed(inner, category, logLevel, eventId, state, exception, formatter);
                return;
            }

            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
