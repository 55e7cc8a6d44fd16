using System.CommandLine;
using Levee.Commands;

var root = new RootCommand("Levee: a Kafka-compatible streaming service.");
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(ClusterCommand.Create());
root.Subcommands.Add(TopicsCommand.Create());
root.Subcommands.Add(GroupsCommand.Create());
root.Subcommands.Add(UsersCommand.Create());
root.Subcommands.Add(AclsCommand.Create());
root.Subcommands.Add(QuotasCommand.Create());
root.Subcommands.Add(TenantsCommand.Create());
root.Subcommands.Add(PlansCommand.Create());
root.Subcommands.Add(CapacityCommand.Create());
root.Subcommands.Add(FailCommand.Create());
root.Subcommands.Add(SimulateCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
