using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka.Admin;
using Levee.Commands.Clusters;
using Spectre.Console;

namespace Levee.Commands;

/// <summary>`levee topics create|list|describe|delete|config|tail|write`, over the Kafka protocol like any client.</summary>
internal static partial class TopicsCommand
{
    public static Command Create()
    {
        var topics = new Command("topics", "Create, list, describe, configure and delete topics; tail and write their records.");
        topics.Subcommands.Add(CreateCommand());
        topics.Subcommands.Add(ListCommand());
        topics.Subcommands.Add(DescribeCommand());
        topics.Subcommands.Add(DeleteCommand());
        topics.Subcommands.Add(ConfigCommand());
        topics.Subcommands.Add(TailCommand());
        topics.Subcommands.Add(WriteCommand());
        return topics;
    }

    /// <summary>A table of partitions: leader, replicas, ISR, offline replicas.</summary>
    public static Table PartitionTable(string title, IEnumerable<PartitionView> partitions)
    {
        var table = new Table().Title(Markup.Escape(title)).AddColumns("topic", "partition", "leader", "replicas", "ISR", "offline replicas", "status");
        foreach (var p in partitions)
        {
            var status = p.IsOffline ? "offline" : p.UnderReplicated ? "under-replicated" : "ok";
            table.AddRow(
                Markup.Escape(p.Topic),
                p.Partition.ToString(CultureInfo.InvariantCulture),
                p.Leader >= 0 ? p.Leader.ToString(CultureInfo.InvariantCulture) : "none",
                Ids(p.Replicas),
                Ids(p.Isr),
                Ids(p.Offline),
                status);
        }

        return table;
    }

    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    private static string Ids(IReadOnlyList<int> ids) => ids.Count == 0 ? "-" : string.Join(',', ids);

    private static Command CreateCommand()
    {
        var name = new Argument<string>("TOPIC") { Description = "The topic to create." };
        var partitions = new Option<int>("--partitions") { Description = "Number of partitions; -1 uses the broker's num.partitions.", DefaultValueFactory = _ => -1 };
        var replicationFactor = new Option<short>("--replication-factor") { Description = "Replicas per partition; -1 uses the broker's default (min(3, brokers)).", DefaultValueFactory = _ => -1 };
        var config = new Option<string[]>("--config") { Description = "Topic config key=value (e.g. min.insync.replicas=2).", AllowMultipleArgumentsPerToken = true };
        var dir = ClusterCommand.DirOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var timeout = ClusterCommand.TimeoutOption(30);
        var command = new Command("create", "Create a topic.") { name, partitions, replicationFactor, config, dir, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var configs = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in parse.GetValue(config) ?? [])
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new ClusterCommandException($"--config expects key=value, got '{pair}'.");
                }

                configs[pair[..eq]] = pair[(eq + 1)..];
            }

            var timeoutMs = parse.GetValue(timeout) * 1000;
            using var admin = Admin(parse.GetValue(bootstrap), parse.GetValue(dir)!, parse.GetValue(commandConfig), timeoutMs);
            var topic = parse.GetValue(name)!;
            try
            {
                await admin.CreateTopicsAsync(
                    [new TopicSpecification { Name = topic, NumPartitions = parse.GetValue(partitions), ReplicationFactor = parse.GetValue(replicationFactor), Configs = configs }],
                    new CreateTopicsOptions { RequestTimeout = TimeSpan.FromMilliseconds(timeoutMs), OperationTimeout = TimeSpan.FromMilliseconds(timeoutMs) }).ConfigureAwait(false);
            }
            catch (CreateTopicsException e)
            {
                var error = e.Results[0].Error;
                throw new ClusterCommandException($"Topic {topic} not created: {error.Code}: {error.Reason}");
            }

            Console.WriteLine($"Created topic {topic}.");
            return 0;
        }));
        return command;
    }

    private static Command ListCommand()
    {
        var dir = ClusterCommand.DirOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var timeout = ClusterCommand.TimeoutOption(10);
        var json = JsonOption("Print one JSON object: topics, one object per topic (name, partitions, replication_factor, under_replicated, offline).");
        var commandConfig = ClientProperties.Option();
        var command = new Command("list", "List topics with their partition count and replication factor.") { dir, bootstrap, commandConfig, timeout, json };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var view = await ClusterAdmin.DescribeAsync(
                ClusterFile.ResolveBootstrap(parse.GetValue(bootstrap), Path.GetFullPath(parse.GetValue(dir)!)),
                ClientProperties.Security(parse.GetValue(commandConfig)),
                TimeSpan.FromSeconds(parse.GetValue(timeout))).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    new { topics = view.Partitions.GroupBy(p => p.Topic).Select(t => new { name = t.Key, partitions = t.Count(), replication_factor = t.Max(p => p.Replicas.Count), under_replicated = t.Count(p => p.UnderReplicated), offline = t.Count(p => p.IsOffline) }) },
                    IndentedJson));
                return 0;
            }

            var table = new Table().AddColumns("topic", "partitions", "replication factor", "under-replicated", "offline");
            foreach (var topic in view.Partitions.GroupBy(p => p.Topic))
            {
                table.AddRow(
                    Markup.Escape(topic.Key),
                    topic.Count().ToString(CultureInfo.InvariantCulture),
                    topic.Max(p => p.Replicas.Count).ToString(CultureInfo.InvariantCulture),
                    topic.Count(p => p.UnderReplicated).ToString(CultureInfo.InvariantCulture),
                    topic.Count(p => p.IsOffline).ToString(CultureInfo.InvariantCulture));
            }

            ClusterCommand.CreateConsole().Write(table);
            return 0;
        }));
        return command;
    }

    private static Command DescribeCommand()
    {
        var names = new Argument<string[]>("TOPIC") { Description = "Topics to describe; all when none is named.", Arity = ArgumentArity.ZeroOrMore };
        var dir = ClusterCommand.DirOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var timeout = ClusterCommand.TimeoutOption(10);
        var json = JsonOption("Print one JSON object: partitions, one object per partition (topic, partition, leader, replicas, isr, offline_replicas).");
        var commandConfig = ClientProperties.Option();
        var command = new Command("describe", "Partitions of topics: leader, replicas, ISR, offline replicas.") { names, dir, bootstrap, commandConfig, timeout, json };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var topics = parse.GetValue(names) ?? [];
            var view = await ClusterAdmin.DescribeAsync(
                ClusterFile.ResolveBootstrap(parse.GetValue(bootstrap), Path.GetFullPath(parse.GetValue(dir)!)),
                ClientProperties.Security(parse.GetValue(commandConfig)),
                TimeSpan.FromSeconds(parse.GetValue(timeout)),
                topics.Length == 0 ? null : topics).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    new { partitions = view.Partitions.Select(p => new { topic = p.Topic, partition = p.Partition, leader = p.Leader, replicas = p.Replicas, isr = p.Isr, offline_replicas = p.Offline }) },
                    IndentedJson));
                return 0;
            }

            ClusterCommand.CreateConsole().Write(PartitionTable("Partitions", view.Partitions));
            return 0;
        }));
        return command;
    }
}
