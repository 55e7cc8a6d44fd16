using System.CommandLine;
using Levee.Commands.Clusters;
using Levee.Commands.Tenants;

namespace Levee.Commands;

/// <summary>
/// `levee plans list|describe|set|apply`: the plans tenants are on, each a set of limits (byte rates, storage,
/// partitions, connections, request and mutation rates). A plan is a config resource of Levee's own type (PLAN) in
/// IncrementalAlterConfigs and DescribeConfigs (<see cref="TenantAdmin"/>).
/// </summary>
internal static class PlansCommand
{
    public static Command Create()
    {
        var plans = new Command("plans", $"List, describe and set the plans tenants are on ({string.Join(", ", PlansFile.Keys)}).");
        plans.Subcommands.Add(ConfigView.ListCommand(TenantAdmin.PlanResource, "List the plans, each with the broker's summary of it.", "plan", "summary", "No plans."));
        plans.Subcommands.Add(ConfigView.DescribeCommand(TenantAdmin.PlanResource, "plan", "A plan's effective values."));
        plans.Subcommands.Add(SetCommand());
        plans.Subcommands.Add(ApplyCommand());
        return plans;
    }

    private static Command SetCommand()
    {
        var name = new Argument<string>("NAME") { Description = "The plan; created when there is none." };
        var config = new Option<string[]>("--config") { Description = "A setting as key=value, the value a positive integer. Repeatable.", AllowMultipleArgumentsPerToken = true };
        var deleteConfig = new Option<string[]>("--delete-config") { Description = "A key to remove from the plan. Repeatable.", AllowMultipleArgumentsPerToken = true };
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var command = new Command("set", "Set (--config key=value) or remove (--delete-config key) settings of one plan.") { name, config, deleteConfig, bootstrap, commandConfig };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var plan = TenantNames.Check(parse.GetValue(name)!, "plan");
            var settings = (parse.GetValue(config) ?? []).Select(Setting).ToList();
            var deleted = (parse.GetValue(deleteConfig) ?? []).Select(PlansFile.CheckKey).ToList();
            if (settings.Count + deleted.Count == 0)
            {
                throw new ClusterCommandException("Name a change: --config key=value or --delete-config key.");
            }

            await admin.AlterAsync(TenantAdmin.PlanChange(plan, settings, deleted)).ConfigureAwait(false);
            Console.WriteLine($"Completed updating plan {plan}.");
        }));
        return command;
    }

    private static Command ApplyCommand()
    {
        var file = new Argument<string>("FILE") { Description = "A JSON file: {\"plans\": {\"NAME\": {\"producer_byte_rate\": 65536, ...}, ...}}." };
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var command = new Command("apply", "Set the plans of a file, each key it names; the whole file is checked before anything is sent.") { file, bootstrap, commandConfig };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var path = parse.GetValue(file)!;
            string text;
            try
            {
                text = await File.ReadAllTextAsync(path).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ClusterCommandException($"{path}: {e.Message}");
            }

            var plans = PlansFile.Parse(text, path);
            var failed = await admin.TryAlterAsync([.. plans.Select(p => TenantAdmin.PlanChange(p.Name, p.Settings, []))]).ConfigureAwait(false);
            foreach (var plan in plans.Where(p => failed.All(f => f.Name != p.Name)))
            {
                Console.WriteLine($"Applied plan {plan.Name} ({string.Join(", ", plan.Settings.Select(s => $"{s.Key}={s.Value}"))}).");
            }

            if (failed.Count > 0)
            {
                throw new ClusterCommandException(string.Join(Environment.NewLine, failed.Select(f => $"Plan {f.Name} not applied: {f.Error}")));
            }
        }));
        return command;
    }

    private static KeyValuePair<string, long> Setting(string item)
    {
        var equals = item.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new ClusterCommandException($"--config '{item}' is not key=value.");
        }

        var key = PlansFile.CheckKey(item[..equals]);
        return KeyValuePair.Create(key, PlansFile.ParseValue(key, item[(equals + 1)..]));
    }
}
