using System.Buffers;
using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Levee.Broker.Cluster;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Commands.Clusters;
using Levee.Commands.Tenants;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Spectre.Console;

namespace Levee.Commands;

/// <summary>
/// `levee rebalance [--dry-run] [--json]`: proposes partition moves that lower the worst load on any survivor of any
/// single failure (<see cref="RebalancePlan.Propose"/>, on the cluster as Metadata and Levee's CAPACITY resource show
/// it), prints them with the worst case before and after, and unless --dry-run submits them with
/// AlterPartitionReassignments, follows them with ListPartitionReassignments until none is left, and elects the moved
/// partitions' preferred leaders (ElectLeaders). The copies are throttled by the brokers'
/// <c>leader.replication.throttled.rate</c>, and each move is checked by the controller's headroom guard.
/// </summary>
internal static class RebalanceCommand
{
    private const sbyte CapacityResource = 102;
    private const short ElectLeadersVersion = 2;

    public static Command Create()
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the moves; submit nothing." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: worst_before, worst_after, moves, and what was submitted." };
        var maxMoves = new Option<int>("--max-moves") { Description = "Partitions moved at most.", DefaultValueFactory = _ => 20 };
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var timeout = ClusterCommand.TimeoutOption(300);
        var command = new Command("rebalance", "Move partitions so that the worst load after any single broker failure is lower; preferred leaders elected after.") { dryRun, json, maxMoves, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var (image, limits) = await ImageAsync(admin).ConfigureAwait(false);
            var plan = RebalancePlan.Propose(image, limits, Math.Max(0, parse.GetValue(maxMoves)));
            var asJson = parse.GetValue(json);
            if (!asJson)
            {
                PrintPlan(plan);
            }

            var outcome = new Outcome();
            if (!parse.GetValue(dryRun) && plan.Moves.Count > 0)
            {
                var deadline = TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(timeout)));
                await using var client = ClusterAdmin.Connect(admin.Bootstrap.Split(',')[0].Trim(), "levee-rebalance", admin.Security, TimeSpan.FromSeconds(30));
                outcome = await ExecuteAsync(client, plan, deadline, asJson).ConfigureAwait(false);
            }
            else if (!asJson)
            {
                Console.WriteLine(plan.Moves.Count == 0 ? "Nothing to move." : "Dry run: nothing submitted.");
            }

            if (asJson)
            {
                Console.WriteLine(Json(plan, parse.GetValue(dryRun), outcome));
            }

            if (outcome.Refused.Count > 0 || !outcome.Completed)
            {
                throw new ClusterCommandException(outcome.Refused.Count > 0
                    ? $"{outcome.Refused.Count} move(s) refused: " + string.Join("; ", outcome.Refused.Select(r => $"{r.Topic}-{r.Partition}: {r.Error}"))
                    : "Reassignments still in progress at the timeout; they go on (levee rebalance --dry-run shows what is left).");
            }
        }));
        return command;
    }

    /// <summary>What happened to the submitted moves.</summary>
    private sealed record Outcome(int Submitted = 0, bool Completed = true, int Elected = 0)
    {
        public List<(string Topic, int Partition, string Error)> Refused { get; } = [];
    }

    // The cluster as the Kafka protocol shows it: live brokers (registered, unfenced) with their limits from the CAPACITY
    // resource, brokers named only in replica lists as fenced, and every partition's replicas, ISR and leader.
    private static async Task<(MetadataImage Image, AdminLimits Limits)> ImageAsync(TenantAdmin admin)
    {
        var cluster = await ClusterAdmin.DescribeAsync(admin.Bootstrap, admin.Security, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        var records = new List<MetadataRecord>();
        var live = cluster.Brokers.Select(b => b.Id).ToHashSet();
        var margin = AdminLimits.Default.HeadroomMargin;
        foreach (var id in live.Concat(cluster.Partitions.SelectMany(p => p.Replicas)).Distinct().Order())
        {
            records.Add(new RegisterBrokerRecord(id, Guid.NewGuid(), 1, [], Fenced: !live.Contains(id)));
        }

        foreach (var id in live)
        {
            var configs = (await admin.DescribeAsync(CapacityResource, id.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false)).ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
            margin = double.TryParse(configs.GetValueOrDefault(HeadroomGuard.MarginKey), NumberStyles.Float, CultureInfo.InvariantCulture, out var m) ? m : margin;
            foreach (var resource in BrokerCapacity.Resources)
            {
                if (configs.GetValueOrDefault($"{BrokerCapacity.Name(resource)}.limit") is { } limit)
                {
                    records.Add(new ConfigRecord(ConfigResourceType.Broker, id.ToString(CultureInfo.InvariantCulture), BrokerCapacity.Key(resource), limit));
                }
            }
        }

        foreach (var topic in cluster.Partitions.GroupBy(p => p.Topic, StringComparer.Ordinal))
        {
            var id = Guid.NewGuid();
            records.Add(new TopicRecord(topic.Key, id));
            foreach (var p in topic)
            {
                ImmutableArray<int> replicas = [.. p.Replicas];
                records.Add(new PartitionRecord(id, p.Partition, replicas, [.. p.Isr.Where(replicas.Contains)], replicas.Contains(p.Leader) ? p.Leader : -1));
            }
        }

        return (MetadataImage.Empty.Apply(records), AdminLimits.Default with { HeadroomMargin = margin });
    }

    private static void PrintPlan(RebalancePlan plan)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Worst survivor load after any single failure: {plan.WorstBefore:P1} now, {plan.WorstAfter:P1} after {plan.Moves.Count} move(s)."));
        if (plan.Moves.Count == 0)
        {
            return;
        }

        var table = new Table().AddColumns("topic", "partition", "replicas now", "moved to");
        foreach (var move in plan.Moves)
        {
            table.AddRow(Markup.Escape(move.Topic), move.Partition.ToString(CultureInfo.InvariantCulture), string.Join(",", move.From), string.Join(",", move.To));
        }

        ClusterCommand.CreateConsole().Write(table);
    }

    private static async Task<Outcome> ExecuteAsync(BrokerClient client, RebalancePlan plan, TimeSpan deadline, bool quiet)
    {
        var request = new AlterPartitionReassignmentsRequest();
        foreach (var topic in plan.Moves.GroupBy(m => m.Topic, StringComparer.Ordinal))
        {
            request.Topics.Add(new AlterPartitionReassignmentsRequest.ReassignableTopic
            {
                Name = topic.Key,
                Partitions = [.. topic.Select(m => new AlterPartitionReassignmentsRequest.ReassignablePartition { PartitionIndex = m.Partition, Replicas = [.. m.To] })],
            });
        }

        var altered = await client.SendAsync<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse>(ApiKey.AlterPartitionReassignments, 0, request, CancellationToken.None).ConfigureAwait(false);
        if (altered.ErrorCode != 0)
        {
            throw new ClusterCommandException($"AlterPartitionReassignments: {(ErrorCode)altered.ErrorCode}: {altered.ErrorMessage}");
        }

        var accepted = new List<(string Topic, int Partition)>();
        var refused = new List<(string Topic, int Partition, string Error)>();
        foreach (var topic in altered.Responses)
        {
            foreach (var partition in topic.Partitions)
            {
                if (partition.ErrorCode == 0)
                {
                    accepted.Add((topic.Name, partition.PartitionIndex));
                }
                else
                {
                    refused.Add((topic.Name, partition.PartitionIndex, $"{(ErrorCode)partition.ErrorCode}: {partition.ErrorMessage}"));
                }
            }
        }

        Say(quiet, $"Submitted {accepted.Count} reassignment(s); {refused.Count} refused.");
        var completed = await FollowAsync(client, deadline, quiet).ConfigureAwait(false);
        var elected = completed && accepted.Count > 0 ? await ElectPreferredAsync(client, accepted).ConfigureAwait(false) : 0;
        Say(quiet, completed ? $"Every reassignment is complete; {elected} preferred leader(s) elected." : "Reassignments are still in progress at the timeout.");
        var outcome = new Outcome(accepted.Count, completed, elected);
        outcome.Refused.AddRange(refused);
        return outcome;
    }

    // ListPartitionReassignments every half second until none is in progress, printing the count when it changes.
    private static async Task<bool> FollowAsync(BrokerClient client, TimeSpan deadline, bool quiet)
    {
        var until = DateTime.UtcNow + deadline;
        var last = -1;
        while (true)
        {
            var listed = await client.SendAsync<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse>(ApiKey.ListPartitionReassignments, 0, new ListPartitionReassignmentsRequest(), CancellationToken.None).ConfigureAwait(false);
            if (listed.ErrorCode != 0)
            {
                throw new ClusterCommandException($"ListPartitionReassignments: {(ErrorCode)listed.ErrorCode}: {listed.ErrorMessage}");
            }

            var ongoing = listed.Topics.Sum(t => t.Partitions.Count);
            if (ongoing != last)
            {
                Say(quiet, string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss} reassignments in progress: {ongoing}"));
                last = ongoing;
            }

            if (ongoing == 0)
            {
                return true;
            }

            if (DateTime.UtcNow >= until)
            {
                return false;
            }

            await Task.Delay(500).ConfigureAwait(false);
        }
    }

    private static async Task<int> ElectPreferredAsync(BrokerClient client, List<(string Topic, int Partition)> moved)
    {
        var request = new ElectLeadersRequest
        {
            ElectionType = 0,
            TopicPartitions = [.. moved.GroupBy(m => m.Topic, StringComparer.Ordinal).Select(t => new ElectLeadersRequest.TopicPartitionsData { Topic = t.Key, Partitions = [.. t.Select(m => m.Partition)] })],
        };
        var response = await client.SendAsync<ElectLeadersRequest, ElectLeadersResponse>(ApiKey.ElectLeaders, ElectLeadersVersion, request, CancellationToken.None).ConfigureAwait(false);
        return response.ReplicaElectionResults.Sum(t => t.PartitionResult.Count(p => p.ErrorCode == 0));
    }

    private static void Say(bool quiet, string line)
    {
        if (!quiet)
        {
            Console.WriteLine(line);
        }
    }

    private static string Json(RebalancePlan plan, bool dryRun, Outcome outcome)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("worst_before", plan.WorstBefore);
            writer.WriteNumber("worst_after", plan.WorstAfter);
            writer.WriteBoolean("dry_run", dryRun);
            writer.WriteStartArray("moves");
            foreach (var move in plan.Moves)
            {
                writer.WriteStartObject();
                writer.WriteString("topic", move.Topic);
                writer.WriteNumber("partition", move.Partition);
                WriteArray(writer, "from", move.From);
                WriteArray(writer, "to", move.To);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteNumber("submitted", outcome.Submitted);
            writer.WriteStartArray("refused");
            foreach (var (topic, partition, error) in outcome.Refused)
            {
                writer.WriteStartObject();
                writer.WriteString("topic", topic);
                writer.WriteNumber("partition", partition);
                writer.WriteString("error", error);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteBoolean("completed", outcome.Completed);
            writer.WriteNumber("preferred_leaders_elected", outcome.Elected);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteArray(Utf8JsonWriter writer, string name, ImmutableArray<int> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteNumberValue(value);
        }

        writer.WriteEndArray();
    }
}
