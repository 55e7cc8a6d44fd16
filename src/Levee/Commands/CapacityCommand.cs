using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Levee.Commands.Clusters;
using Levee.Commands.Tenants;
using Spectre.Console;

namespace Levee.Commands;

/// <summary>
/// `levee capacity [--json]`: each live broker's capacity model as the cluster computes it (Levee's CAPACITY config
/// resource, type 102, in DescribeConfigs): per resource its limit, what is reserved now, the bound the headroom guard
/// keeps it under, and its worst value after any single failure, naming that failure (docs/cascades.md).
/// </summary>
internal static class CapacityCommand
{
    private const sbyte CapacityResource = 102;
    private static readonly string[] Resources = ["partitions", "disk_bytes", "bytes_in_per_sec", "bytes_out_per_sec", "connections"];
    private static readonly string[] Fields = ["limit", "used", "bound", "worst"];

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object: headroom_margin, and brokers, one object per broker." };
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var command = new Command("capacity", "Each broker's limits, reserved load, and worst load after any single failure (the headroom guard's view).") { json, bootstrap, commandConfig };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var cluster = await ClusterAdmin.DescribeAsync(admin.Bootstrap, admin.Security, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            var brokers = new List<(int Id, Dictionary<string, string?> Configs)>();
            foreach (var broker in cluster.Brokers)
            {
                var configs = await admin.DescribeAsync(CapacityResource, broker.Id.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
                brokers.Add((broker.Id, configs.ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal)));
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(Json(brokers));
            }
            else
            {
                PrintTable(brokers);
            }
        }));
        return command;
    }

    private static void PrintTable(List<(int Id, Dictionary<string, string?> Configs)> brokers)
    {
        var margin = brokers.Select(b => b.Configs.GetValueOrDefault("headroom.margin")).FirstOrDefault() ?? "?";
        var table = new Table().AddColumns("broker", "resource", "limit", "used", $"bound (margin {margin})", "worst after one failure", "failure");
        foreach (var (id, configs) in brokers)
        {
            foreach (var resource in Resources)
            {
                var worst = Number(configs, $"{resource}.worst");
                var bound = Number(configs, $"{resource}.bound");
                var worstText = worst > bound ? $"[red]{worst}[/]" : worst.ToString(CultureInfo.InvariantCulture);
                table.AddRow(
                    id.ToString(CultureInfo.InvariantCulture),
                    resource,
                    Markup.Escape(configs.GetValueOrDefault($"{resource}.limit") ?? ""),
                    Markup.Escape(configs.GetValueOrDefault($"{resource}.used") ?? ""),
                    bound.ToString(CultureInfo.InvariantCulture),
                    worstText,
                    Markup.Escape(configs.GetValueOrDefault($"{resource}.worst.failure") ?? ""));
            }
        }

        ClusterCommand.CreateConsole().Write(table);
    }

    private static string Json(List<(int Id, Dictionary<string, string?> Configs)> brokers)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            var margin = brokers.Select(b => b.Configs.GetValueOrDefault("headroom.margin")).FirstOrDefault();
            writer.WriteNumber("headroom_margin", double.TryParse(margin, NumberStyles.Float, CultureInfo.InvariantCulture, out var m) ? m : 0);
            writer.WriteStartArray("brokers");
            foreach (var (id, configs) in brokers)
            {
                writer.WriteStartObject();
                writer.WriteNumber("id", id);
                foreach (var resource in Resources)
                {
                    writer.WriteStartObject(resource);
                    foreach (var field in Fields)
                    {
                        writer.WriteNumber(field, Number(configs, $"{resource}.{field}"));
                    }

                    writer.WriteString("worst_failure", configs.GetValueOrDefault($"{resource}.worst.failure"));
                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static long Number(Dictionary<string, string?> configs, string key) =>
        long.TryParse(configs.GetValueOrDefault(key), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : 0;
}
