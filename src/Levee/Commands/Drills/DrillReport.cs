using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Levee.Commands.Drills;

/// <summary>
/// What a drill measured. JSON: <c>broker</c>, <c>fault</c>, <c>led</c> (partitions it led), <c>recovered_s</c> (until
/// every partition had a live leader; null if never within the drill), <c>full_isr_s</c> (until every partition was
/// back at full ISR once the broker returned; null if not), <c>elections</c>, <c>probe_errors</c>, <c>probe</c>
/// (sent, acknowledged, consumed, p50_ms, p99_ms, max_ms), <c>under_replicated</c> ([seconds, count] per sample),
/// <c>still_under_replicated</c> (the partitions not back at full ISR at the end, when some were not), and
/// <c>survivors</c>: per survivor its <c>id</c>, and <c>peak</c> and <c>limit</c> per resource (the load its capacity
/// model reserved at the worst sample, against its limit).
/// </summary>
internal sealed record DrillReport(
    int Broker,
    DrillFault Fault,
    int Led,
    double? RecoveredSeconds,
    double? FullIsrSeconds,
    int Elections,
    IReadOnlyList<(double Seconds, int Count)> UnderReplicated,
    IReadOnlyList<string> StillUnderReplicated,
    ProbeResult Probe,
    IReadOnlyDictionary<int, Dictionary<string, (long Peak, long Limit)>> Survivors)
{
    public string ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("broker", Broker);
            writer.WriteString("fault", Fault.Kind == DrillFaultKind.Kill ? "kill" : "pause");
            if (Fault.For is { } span)
            {
                writer.WriteNumber(Fault.Kind == DrillFaultKind.Kill ? "restart_after_s" : "pause_s", span.TotalSeconds);
            }

            writer.WriteNumber("led", Led);
            Nullable(writer, "recovered_s", RecoveredSeconds);
            Nullable(writer, "full_isr_s", FullIsrSeconds);
            writer.WriteNumber("elections", Elections);
            writer.WriteNumber("probe_errors", Probe.Errors);
            writer.WriteStartObject("probe");
            writer.WriteNumber("sent", Probe.Sent);
            writer.WriteNumber("acknowledged", Probe.Acknowledged);
            writer.WriteNumber("consumed", Probe.Consumed);
            writer.WriteNumber("p50_ms", Math.Round(Probe.P50Ms, 1));
            writer.WriteNumber("p99_ms", Math.Round(Probe.P99Ms, 1));
            writer.WriteNumber("max_ms", Math.Round(Probe.MaxMs, 1));
            writer.WriteEndObject();
            writer.WriteStartArray("under_replicated");
            foreach (var (seconds, count) in UnderReplicated)
            {
                writer.WriteStartArray();
                writer.WriteNumberValue(Math.Round(seconds, 1));
                writer.WriteNumberValue(count);
                writer.WriteEndArray();
            }

            writer.WriteEndArray();
            writer.WriteStartArray("still_under_replicated");
            foreach (var partition in StillUnderReplicated)
            {
                writer.WriteStringValue(partition);
            }

            writer.WriteEndArray();
            writer.WriteStartArray("survivors");
            foreach (var (id, resources) in Survivors.OrderBy(s => s.Key))
            {
                writer.WriteStartObject();
                writer.WriteNumber("id", id);
                foreach (var (field, pick) in new (string, Func<(long Peak, long Limit), long>)[] { ("peak", r => r.Peak), ("limit", r => r.Limit) })
                {
                    writer.WriteStartObject(field);
                    foreach (var (resource, values) in resources.OrderBy(r => r.Key, StringComparer.Ordinal))
                    {
                        writer.WriteNumber(resource, pick(values));
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public void Print(IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var c = CultureInfo.InvariantCulture;
        console.WriteLine(string.Create(c, $"Broker {Broker}: {(Fault.Kind == DrillFaultKind.Kill ? "killed" : "paused")}; it led {Led} partitions."));
        console.WriteLine(RecoveredSeconds is { } r ? string.Create(c, $"Every partition had a live leader again after {r:F1} s ({Elections} elections).") : "Some partitions had no live leader at the end of the drill.");
        console.WriteLine(FullIsrSeconds is { } f ? string.Create(c, $"Full ISR everywhere after {f:F1} s.") : $"Not every partition was back at full ISR within the drill: {string.Join("; ", StillUnderReplicated)}.");
        console.WriteLine(string.Create(c, $"Probe: {Probe.Sent} sent, {Probe.Acknowledged} acknowledged, {Probe.Errors} failed, {Probe.Consumed} consumed; latency p50 {Probe.P50Ms:F1} ms, p99 {Probe.P99Ms:F1} ms, max {Probe.MaxMs:F1} ms."));
        var table = new Table().AddColumns("survivor", "resource", "peak", "limit", "of limit");
        foreach (var (id, resources) in Survivors.OrderBy(s => s.Key))
        {
            foreach (var (resource, (peak, limit)) in resources.OrderBy(r => r.Key, StringComparer.Ordinal))
            {
                var share = limit > 0 ? peak / (double)limit : 0;
                var text = share.ToString("P1", c);
                table.AddRow(id.ToString(c), resource, peak.ToString(c), limit.ToString(c), share > 1 ? $"[red]{text}[/]" : text);
            }
        }

        console.Write(table);
    }

    private static void Nullable(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, Math.Round(v, 2));
        }
        else
        {
            writer.WriteNull(name);
        }
    }
}
