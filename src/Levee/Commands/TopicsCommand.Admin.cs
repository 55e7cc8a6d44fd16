using System.CommandLine;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Commands.Clusters;
using Spectre.Console;

namespace Levee.Commands;

/// <summary>`levee topics delete|config`: DeleteTopics, DescribeConfigs and IncrementalAlterConfigs, like kafka-topics.sh and kafka-configs.sh.</summary>
internal static partial class TopicsCommand
{
    private static Command DeleteCommand()
    {
        var names = new Argument<string[]>("TOPIC") { Description = "The topics to delete.", Arity = ArgumentArity.OneOrMore };
        var (dir, bootstrap, commandConfig, timeout) = ConnectionOptions(30);
        var command = new Command("delete", "Delete topics and every record in them.") { names, dir, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var topics = parse.GetValue(names)!;
            var timeoutMs = parse.GetValue(timeout) * 1000;
            using var admin = Admin(parse.GetValue(bootstrap), parse.GetValue(dir)!, parse.GetValue(commandConfig), timeoutMs);
            try
            {
                await admin.DeleteTopicsAsync(topics, new DeleteTopicsOptions { RequestTimeout = TimeSpan.FromMilliseconds(timeoutMs), OperationTimeout = TimeSpan.FromMilliseconds(timeoutMs) }).ConfigureAwait(false);
            }
            catch (DeleteTopicsException e)
            {
                throw new ClusterCommandException(string.Join("; ", e.Results.Where(r => r.Error.IsError).Select(r => $"Topic {r.Topic} not deleted: {r.Error.Code}: {r.Error.Reason}")));
            }

            foreach (var topic in topics)
            {
                Console.WriteLine($"Deleted topic {topic}.");
            }

            return 0;
        }));
        return command;
    }

    private static Command ConfigCommand()
    {
        var name = new Argument<string>("TOPIC") { Description = "The topic." };
        var settings = new Argument<string[]>("KEY=VALUE") { Description = "Configs to set; none: describe the topic's configs.", Arity = ArgumentArity.ZeroOrMore };
        var remove = new Option<string[]>("--delete") { Description = "A config to remove (back to the broker's default); may be repeated.", AllowMultipleArgumentsPerToken = true };
        var all = new Option<bool>("--all") { Description = "Describe every config, defaults included (default: only those set on the topic)." };
        var json = JsonOption("Describe as one JSON object: topic, and configs, one object per config (name, value, source, read_only, sensitive).");
        var (dir, bootstrap, commandConfig, timeout) = ConnectionOptions(30);
        var command = new Command("config", "Describe a topic's configs, or set (KEY=VALUE ...) and remove (--delete KEY) some with IncrementalAlterConfigs.") { name, settings, remove, all, json, dir, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var topic = parse.GetValue(name)!;
            var timeoutMs = parse.GetValue(timeout) * 1000;
            using var admin = Admin(parse.GetValue(bootstrap), parse.GetValue(dir)!, parse.GetValue(commandConfig), timeoutMs);
            var resource = new ConfigResource { Type = ResourceType.Topic, Name = topic };
            var changes = (parse.GetValue(settings) ?? []).Select(pair =>
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                return eq > 0
                    ? new ConfigEntry { Name = pair[..eq], Value = pair[(eq + 1)..], IncrementalOperation = AlterConfigOpType.Set }
                    : throw new ClusterCommandException($"Expected key=value, got '{pair}'.");
            }).Concat((parse.GetValue(remove) ?? []).Select(key => new ConfigEntry { Name = key, IncrementalOperation = AlterConfigOpType.Delete })).ToList();
            if (changes.Count > 0)
            {
                try
                {
                    await admin.IncrementalAlterConfigsAsync(
                        new Dictionary<ConfigResource, List<ConfigEntry>> { [resource] = changes },
                        new IncrementalAlterConfigsOptions { RequestTimeout = TimeSpan.FromMilliseconds(timeoutMs) }).ConfigureAwait(false);
                }
                catch (IncrementalAlterConfigsException e)
                {
                    throw new ClusterCommandException($"Topic {topic} configs not changed: {string.Join("; ", e.Results.Select(r => $"{r.Error.Code}: {r.Error.Reason}"))}");
                }

                Console.WriteLine($"Changed {changes.Count} config(s) of topic {topic}: {string.Join(", ", changes.Select(c => c.IncrementalOperation == AlterConfigOpType.Set ? $"{c.Name}={c.Value}" : $"{c.Name} removed"))}.");
                return 0;
            }

            List<DescribeConfigsResult> described;
            try
            {
                described = await admin.DescribeConfigsAsync([resource], new DescribeConfigsOptions { RequestTimeout = TimeSpan.FromMilliseconds(timeoutMs) }).ConfigureAwait(false);
            }
            catch (DescribeConfigsException e)
            {
                throw new ClusterCommandException($"Topic {topic}: {string.Join("; ", e.Results.Select(r => $"{r.Error.Code}: {r.Error.Reason}"))}");
            }

            var entries = described.Single().Entries.Values
                .Where(e => parse.GetValue(all) || e.Source == ConfigSource.DynamicTopicConfig)
                .OrderBy(e => e.Name, StringComparer.Ordinal)
                .ToList();
            if (parse.GetValue(json))
            {
                Console.WriteLine(ConfigsJson(topic, entries));
            }
            else
            {
                var table = new Table().AddColumns("config", "value", "source");
                foreach (var entry in entries)
                {
                    table.AddRow(Markup.Escape(entry.Name), Markup.Escape(entry.IsSensitive ? "(sensitive)" : entry.Value ?? "null"), entry.Source.ToString());
                }

                ClusterCommand.CreateConsole().Write(table);
            }

            return 0;
        }));
        return command;
    }

    private static IAdminClient Admin(string? bootstrap, string dir, string? commandConfig, int timeoutMs) =>
        new AdminClientBuilder(ClientProperties.Apply(
            new AdminClientConfig { BootstrapServers = ClusterFile.ResolveBootstrap(bootstrap, Path.GetFullPath(dir)), SocketTimeoutMs = timeoutMs },
            commandConfig)).Build();

    private static string ConfigsJson(string topic, List<ConfigEntryResult> entries)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("topic", topic);
            writer.WriteStartArray("configs");
            foreach (var entry in entries)
            {
                writer.WriteStartObject();
                writer.WriteString("name", entry.Name);
                writer.WriteString("value", entry.IsSensitive ? null : entry.Value);
                writer.WriteString("source", entry.Source.ToString());
                writer.WriteBoolean("read_only", entry.IsReadOnly);
                writer.WriteBoolean("sensitive", entry.IsSensitive);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
