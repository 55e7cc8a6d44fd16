using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Tests.Infrastructure;

/// <summary>Keeps every line a broker logs at <see cref="LogLevel.Information"/> or above, for tests that assert what is logged.</summary>
public sealed class LogCollector : ILoggerProvider
{
    private readonly ConcurrentQueue<(LogLevel Level, string Category, string Message)> _lines = new();

    /// <summary>The lines logged so far.</summary>
    public IReadOnlyList<(LogLevel Level, string Category, string Message)> Lines => [.. _lines];

    /// <summary>Adds this collector to a broker's logging (<see cref="TestBroker.StartAsync"/>'s configureLogging).</summary>
    public void AddTo(ILoggingBuilder logging) => logging.AddProvider(this);

    /// <summary>The lines whose message contains <paramref name="text"/>.</summary>
    public IReadOnlyList<(LogLevel Level, string Category, string Message)> Containing(string text) =>
        [.. _lines.Where(l => l.Message.Contains(text, StringComparison.Ordinal))];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<(LogLevel Level, string Category, string Message)> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lines.Enqueue((logLevel, category, formatter(state, exception)));
            }
        }
    }
}
