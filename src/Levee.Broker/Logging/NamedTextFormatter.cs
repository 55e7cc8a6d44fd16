using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Levee.Broker.Logging;

/// <summary>
/// The broker's text format: the console logger's simple single-line format (time, level, category, event, message,
/// the exception on the same line), with the event's name in the brackets where the simple format prints its
/// numeric id (the generator's hash, neither readable nor unique). An event without a name keeps its number.
/// </summary>
internal sealed class NamedTextFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "levee-text";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null)
        {
            return;
        }

        var eventId = logEntry.EventId;
        textWriter.Write(DateTimeOffset.Now.ToString("yyyy-MM-dd HH:mm:ss.fff ", CultureInfo.InvariantCulture));
        textWriter.Write(Level(logEntry.LogLevel));
        textWriter.Write(": ");
        textWriter.Write(logEntry.Category);
        textWriter.Write('[');
        textWriter.Write(string.IsNullOrEmpty(eventId.Name) ? eventId.Id.ToString(CultureInfo.InvariantCulture) : eventId.Name);
        textWriter.Write("] ");
        textWriter.Write(OneLine(message));
        if (logEntry.Exception is { } exception)
        {
            textWriter.Write(' ');
            textWriter.Write(OneLine(exception.ToString()));
        }

        textWriter.Write(Environment.NewLine);
    }

    // The simple format's level names, so that a reader (or a test) matching "warn:" or "fail:" still finds them.
    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };

    private static string OneLine(string text) => text.Replace(Environment.NewLine, " ", StringComparison.Ordinal).Replace('\n', ' ');
}
