using Microsoft.Extensions.Logging;

namespace Levee.Cluster.Quorum;

/// <summary>
/// The logger factory the Raft library gets. The library logs a state transition cancelled by its own StopAsync (an
/// election timer that fired while the voter was stopping: "Transition to candidate state has failed" with a
/// TaskCanceledException) as Critical. Once the quorum is stopping, such a cancellation is what stopping means, not a
/// failure: it is logged at Debug. Anything else, and every entry before the stop, passes unchanged.
/// </summary>
internal sealed class StoppingLoggerFactory(ILoggerFactory inner, Func<bool> stopping) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new StoppingLogger(inner.CreateLogger(categoryName), stopping);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // The inner factory belongs to the host.
    }

    private sealed class StoppingLogger(ILogger inner, Func<bool> stopping) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error && exception is OperationCanceledException && stopping())
            {
                logLevel = LogLevel.Debug;
                if (!inner.IsEnabled(logLevel))
                {
                    return;
                }
            }

            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
