using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;

namespace Levee.Faults.Infrastructure;

/// <summary>
/// librdkafka's debug lines of one producer, kept in a file when LEVEE_FAULTS_CLIENT_DEBUG names a directory: every
/// line of the producer's first <see cref="EverythingFor"/> (its first batches), after that only the lines that are
/// not routine (a batch delivered, a request sent), so a long run stays small.
/// </summary>
public sealed class ClientDebugLog : IDisposable
{
    private static readonly TimeSpan EverythingFor = TimeSpan.FromSeconds(20);
    private static readonly string[] Routine = ["delivered", "Produce MessageSet"];

    private readonly StreamWriter _writer;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly Lock _lock = new();

    private ClientDebugLog(StreamWriter writer) => _writer = writer;

    /// <summary>A log for a producer of <paramref name="topic"/>, or null when LEVEE_FAULTS_CLIENT_DEBUG is not set.</summary>
    public static ClientDebugLog? Open(string topic)
    {
        var directory = Environment.GetEnvironmentVariable("LEVEE_FAULTS_CLIENT_DEBUG");
        if (string.IsNullOrEmpty(directory))
        {
            return null;
        }

        Directory.CreateDirectory(directory);
        var name = string.Create(CultureInfo.InvariantCulture, $"{topic}-{DateTime.UtcNow:HHmmss.fff}-{Guid.NewGuid():N}.log");
        return new ClientDebugLog(new StreamWriter(Path.Combine(directory, name)) { AutoFlush = false });
    }

    public void Write(LogMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var early = Stopwatch.GetElapsedTime(_started) < EverythingFor;
        if (!early && Routine.Any(r => message.Message.Contains(r, StringComparison.Ordinal)))
        {
            return;
        }

        lock (_lock)
        {
            _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.ffffff} {message.Facility} {message.Message}"));
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _writer.Dispose();
        }
    }
}
