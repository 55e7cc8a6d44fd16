using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Levee.Commands.Bench;

/// <summary>Prints a benchmark result as a table and writes it as JSON for bench/run.sh.</summary>
internal static class BenchReport
{
    public static void Print(BenchSettings settings, BenchResult result)
    {
        var table = new Table().Title($"levee bench {settings.ModeName} → {Markup.Escape(settings.Bootstrap)}").AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("records", Format(result.Records));
        table.AddRow("elapsed s", Format(result.ElapsedSeconds));
        table.AddRow("records/s", Format(result.RecordsPerSecond));
        table.AddRow("MB/s", Format(result.MegabytesPerSecond));
        table.AddRow("p50 ms", Format(result.PercentileMs(50)));
        table.AddRow("p99 ms", Format(result.PercentileMs(99)));
        table.AddRow("p99.9 ms", Format(result.PercentileMs(99.9)));
        table.AddRow("max ms", Format(result.MaxMs));
        table.AddRow("errors", Format(result.Errors));
        if (!result.Completed)
        {
            table.Caption("[red]did not complete before --timeout-s[/]");
        }

        AnsiConsole.Write(table);
    }

    public static void WriteJson(string path, BenchSettings settings, BenchResult result)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("mode", settings.ModeName);
        json.WriteString("bootstrap", settings.Bootstrap);
        json.WriteString("topic", settings.Topic);
        json.WriteNumber("size", settings.Size);
        json.WriteNumber("partitions", settings.Partitions);
        json.WriteNumber("producers", settings.Producers);
        json.WriteString("acks", settings.Acks);
        json.WriteString("compression", settings.Compression);
        json.WriteNumber("rate", settings.Rate);
        json.WriteNumber("linger_ms", settings.LingerMs);
        json.WriteBoolean("completed", result.Completed);
        json.WriteNumber("records", result.Records);
        json.WriteNumber("bytes", result.Bytes);
        json.WriteNumber("errors", result.Errors);
        json.WriteNumber("elapsed_s", Round(result.ElapsedSeconds));
        json.WriteNumber("records_per_sec", Round(result.RecordsPerSecond));
        json.WriteNumber("mb_per_sec", Round(result.MegabytesPerSecond));
        json.WriteNumber("mean_ms", Round(result.MeanMs));
        json.WriteNumber("p50_ms", Round(result.PercentileMs(50)));
        json.WriteNumber("p99_ms", Round(result.PercentileMs(99)));
        json.WriteNumber("p999_ms", Round(result.PercentileMs(99.9)));
        json.WriteNumber("max_ms", Round(result.MaxMs));
        json.WriteNumber("client_gc_pause_ms", Round(result.ClientGcPauseMs));
        if (result.P99MsBySecond.Count > 0)
        {
            json.WriteStartArray("p99_ms_by_second");
            foreach (var p99 in result.P99MsBySecond)
            {
                json.WriteNumberValue(Round(p99));
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    private static double Round(double value) => Math.Round(value, 4);

    private static string Format(double value) => value.ToString(value >= 100 ? "N0" : "0.###", CultureInfo.InvariantCulture);
}
