using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Levee.Broker.Logging;

/// <summary>How a broker writes its log to the console.</summary>
public enum BrokerLogFormat
{
    /// <summary>One line per entry: time, level, category, event name, message (the console logger's simple format, names for ids).</summary>
    Text,

    /// <summary>
    /// One JSON object per line (the console logger's JSON format): Timestamp (UTC), EventId, LogLevel, Category,
    /// Message, Exception when there is one, and State with the message's values and the event's name (EventName).
    /// </summary>
    Json,
}

/// <summary>The broker's console logging: the format, the level, and event names in the JSON output.</summary>
public static class BrokerLogging
{
    /// <summary>The JSON State property that carries the event's name (its [LoggerMessage] EventName).</summary>
    public const string EventNameProperty = "EventName";

    /// <summary>Replaces the builder's providers with the console, in <paramref name="format"/>, from <paramref name="level"/> up.</summary>
    public static void AddBrokerConsole(this ILoggingBuilder logging, BrokerLogFormat format, LogLevel level)
    {
        ArgumentNullException.ThrowIfNull(logging);
        logging.ClearProviders();
        logging.SetMinimumLevel(level);
        if (format == BrokerLogFormat.Json)
        {
            logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });

            // The JSON formatter writes the numeric event id only; a log shipper wants the stable name. The console
            // provider is wrapped so that each entry's State carries it.
            logging.Services.RemoveAll<ILoggerProvider>();
            logging.Services.AddSingleton<ILoggerProvider>(sp => new EventNameLoggerProvider(
                new ConsoleLoggerProvider(sp.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>(), sp.GetServices<ConsoleFormatter>())));
        }
        else
        {
            logging.AddConsole(o => o.FormatterName = NamedTextFormatter.FormatterName);
            logging.AddConsoleFormatter<NamedTextFormatter, ConsoleFormatterOptions>();
        }

        // Kestrel's own start-up lines speak of "http://" listeners: misleading for a Kafka port.
        logging.AddFilter("Microsoft", LogLevel.Warning);
    }

    /// <summary>A provider whose loggers add the event's name to each entry's state (as <see cref="EventNameProperty"/>).</summary>
    private sealed class EventNameLoggerProvider(ILoggerProvider inner) : ILoggerProvider, ISupportExternalScope
    {
        public ILogger CreateLogger(string categoryName) => new EventNameLogger(inner.CreateLogger(categoryName));

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => (inner as ISupportExternalScope)?.SetScopeProvider(scopeProvider);

        public void Dispose() => inner.Dispose();
    }

    private sealed class EventNameLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (string.IsNullOrEmpty(eventId.Name))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }

            inner.Log(logLevel, eventId, new NamedState<TState>(state, eventId.Name, formatter(state, exception)), exception, static (s, _) => s.Message);
        }
    }

    /// <summary>An entry's values with its event name added; its text is the entry's message, as the formatter writes it.</summary>
    private sealed class NamedState<TState>(TState state, string eventName, string message) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private readonly IReadOnlyList<KeyValuePair<string, object?>> _values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];

        public string Message => message;

        public int Count => _values.Count + 1;

        public KeyValuePair<string, object?> this[int index] =>
            index == _values.Count ? new(EventNameProperty, eventName) : _values[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            for (var i = 0; i < Count; i++)
            {
                yield return this[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => message;
    }
}
