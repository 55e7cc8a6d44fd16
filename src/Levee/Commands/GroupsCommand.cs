using System.CommandLine;
using Levee.Commands.Groups;
using Spectre.Console;

namespace Levee.Commands;

/// <summary>
/// `levee groups`: list, describe, reset the offsets of and delete consumer groups, over the Kafka protocol like
/// any client (Kafka's kafka-consumer-groups.sh, in the same spirit).
/// </summary>
internal static class GroupsCommand
{
    public static Command Create()
    {
        var groups = new Command("groups", "List, describe, reset the offsets of and delete consumer groups (over the Kafka protocol).");
        groups.Subcommands.Add(ListCommand());
        groups.Subcommands.Add(DescribeCommand());
        groups.Subcommands.Add(ResetOffsetsCommand());
        groups.Subcommands.Add(DeleteCommand());
        return groups;
    }

    private static Option<string> Bootstrap() => new("--bootstrap") { Description = "Bootstrap servers.", DefaultValueFactory = _ => "127.0.0.1:9092" };

    private static Option<int> Timeout() => new("--timeout-s") { Description = "Timeout of each request, in seconds.", DefaultValueFactory = _ => 30 };

    private static Argument<string> GroupArgument() => new("GROUP") { Description = "The group id." };

    private static Command ListCommand()
    {
        var bootstrap = Bootstrap();
        var commandConfig = ClientProperties.Option();
        var timeout = Timeout();
        var command = new Command("list", "List the groups the broker knows, with their state.") { bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(bootstrap)!, parse.GetValue(commandConfig), parse.GetValue(timeout), async (admin, console) =>
        {
            GroupsView.List(console, await admin.ListAsync().ConfigureAwait(false));
            return 0;
        }));
        return command;
    }

    private static Command DescribeCommand()
    {
        var bootstrap = Bootstrap();
        var commandConfig = ClientProperties.Option();
        var timeout = Timeout();
        var group = GroupArgument();
        var command = new Command("describe", "Members (id, client id, host, assignment) and, per partition, committed offset, log end offset and lag.") { group, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(bootstrap)!, parse.GetValue(commandConfig), parse.GetValue(timeout), async (admin, console) =>
        {
            GroupsView.Describe(console, await admin.DescribeAsync(parse.GetValue(group)!).ConfigureAwait(false));
            return 0;
        }));
        return command;
    }

    private static Command ResetOffsetsCommand()
    {
        var bootstrap = Bootstrap();
        var commandConfig = ClientProperties.Option();
        var timeout = Timeout();
        var group = GroupArgument();
        var topics = new Option<string[]>("--topic") { Description = "Topic to reset, all its partitions (T) or some (T:0,2). Repeatable.", Required = true, AllowMultipleArgumentsPerToken = false };
        var earliest = new Option<bool>("--to-earliest") { Description = "Reset to the log start offset." };
        var latest = new Option<bool>("--to-latest") { Description = "Reset to the log end offset." };
        var offset = new Option<long?>("--to-offset") { Description = "Reset to this offset (clamped to the log's range)." };
        var datetime = new Option<string?>("--to-datetime") { Description = "Reset to the first record at or after this time (ISO 8601; UTC without a zone)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan; commit nothing." };
        var command = new Command("reset-offsets", "Move an inactive group's committed offsets (refused while the group has members).")
        {
            group, topics, earliest, latest, offset, datetime, dryRun, bootstrap, commandConfig, timeout,
        };
        command.SetAction(async (parse, _) =>
        {
            var target = ResetTarget.Parse(parse.GetValue(earliest), parse.GetValue(latest), parse.GetValue(offset), parse.GetValue(datetime), out var problem);
            if (problem is not null)
            {
                await Console.Error.WriteLineAsync(problem).ConfigureAwait(false);
                return 2;
            }

            return await RunAsync(parse.GetValue(bootstrap)!, parse.GetValue(commandConfig), parse.GetValue(timeout), async (admin, console) =>
            {
                var id = parse.GetValue(group)!;
                var plan = await admin.PlanResetAsync(id, parse.GetValue(topics)!, target).ConfigureAwait(false);
                var dry = parse.GetValue(dryRun);
                if (!dry)
                {
                    await admin.ResetAsync(id, plan).ConfigureAwait(false);
                }

                GroupsView.Plan(console, id, plan, dry);
                return 0;
            }).ConfigureAwait(false);
        });
        return command;
    }

    private static Command DeleteCommand()
    {
        var bootstrap = Bootstrap();
        var commandConfig = ClientProperties.Option();
        var timeout = Timeout();
        var group = GroupArgument();
        var command = new Command("delete", "Delete an empty group and its committed offsets.") { group, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(bootstrap)!, parse.GetValue(commandConfig), parse.GetValue(timeout), async (admin, console) =>
        {
            var id = parse.GetValue(group)!;
            await admin.DeleteAsync(id).ConfigureAwait(false);
            console.WriteLine($"Deleted group {id}.");
            return 0;
        }));
        return command;
    }

    private static async Task<int> RunAsync(string bootstrap, string? commandConfig, int timeoutSeconds, Func<GroupAdmin, IAnsiConsole, Task<int>> action)
    {
        try
        {
            using var admin = new GroupAdmin(bootstrap, commandConfig, TimeSpan.FromSeconds(Math.Max(1, timeoutSeconds)));
            return await action(admin, GroupsView.CreateConsole()).ConfigureAwait(false);
        }
        catch (Clusters.ClusterCommandException e)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (GroupCommandException e)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (Confluent.Kafka.KafkaException e)
        {
            await Console.Error.WriteLineAsync($"{e.Error.Code}: {e.Error.Reason}").ConfigureAwait(false);
            return 1;
        }
    }
}
