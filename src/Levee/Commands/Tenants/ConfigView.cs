using System.Buffers;
using System.CommandLine;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace Levee.Commands.Tenants;

/// <summary>
/// The `list` and `describe` commands of `levee tenants` and `levee plans`, and how they print what DescribeConfigs
/// returns: whatever configs come back, as a table or one JSON object.
/// </summary>
internal static class ConfigView
{
    /// <summary>`list`: DescribeConfigs of (<paramref name="type"/>, ""), one config per resource, sorted by name.</summary>
    public static Command ListCommand(sbyte type, string description, string nameColumn, string valueColumn, string none)
    {
        var json = JsonOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var command = new Command("list", description) { json, bootstrap, commandConfig };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var all = await admin.DescribeAsync(type, "").ConfigureAwait(false);
            Print([.. all.OrderBy(c => c.Key, StringComparer.Ordinal)], nameColumn, valueColumn, parse.GetValue(json), none);
        }));
        return command;
    }

    /// <summary>`describe NAME`: DescribeConfigs of (<paramref name="type"/>, NAME), configs in the broker's order.</summary>
    /// <param name="type">The resource type.</param>
    /// <param name="what">What NAME names: "tenant" or "plan".</param>
    /// <param name="description">The command's description.</param>
    public static Command DescribeCommand(sbyte type, string what, string description)
    {
        var name = new Argument<string>("NAME") { Description = $"The {what}." };
        var json = JsonOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var perBroker = new Option<bool>("--per-broker") { Description = "Also each broker's part of the usage (broker.ID.usage.KEY)." };
        var command = new Command("describe", description) { name, json, bootstrap, commandConfig };
        if (type == TenantAdmin.TenantResource)
        {
            command.Options.Add(perBroker);
        }

        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var resource = TenantNames.Check(parse.GetValue(name)!, what);
            var configs = type == TenantAdmin.TenantResource
                ? await admin.DescribeTenantAsync(resource, parse.GetValue(perBroker)).ConfigureAwait(false)
                : await admin.DescribeAsync(type, resource).ConfigureAwait(false);
            Print(configs, "key", "value", parse.GetValue(json), $"The broker reports nothing of {what} {resource}.");
        }));
        return command;
    }

    private static Option<bool> JsonOption() => new("--json") { Description = "Print one JSON object." };

    /// <summary>
    /// Prints <paramref name="configs"/>: a table of two columns, or with <paramref name="json"/> one JSON object of
    /// name to value (null when the broker sent none); <paramref name="none"/> when there are none and not JSON.
    /// </summary>
    private static void Print(IReadOnlyList<KeyValuePair<string, string?>> configs, string nameColumn, string valueColumn, bool json, string none)
    {
        if (json)
        {
            Console.WriteLine(Json(configs));
        }
        else if (configs.Count == 0)
        {
            Console.WriteLine(none);
        }
        else
        {
            var table = new Table().AddColumns(nameColumn, valueColumn);
            foreach (var (name, value) in configs)
            {
                table.AddRow(Markup.Escape(name), Markup.Escape(value ?? ""));
            }

            ClusterCommand.CreateConsole().Write(table);
        }
    }

    private static string Json(IEnumerable<KeyValuePair<string, string?>> configs)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in configs)
            {
                writer.WriteString(name, value);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
