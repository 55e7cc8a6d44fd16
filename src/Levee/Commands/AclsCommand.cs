using System.CommandLine;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Commands.Acls;
using Levee.Commands.Clusters;

namespace Levee.Commands;

/// <summary>
/// `levee acls add|list|remove`: Kafka's ACLs over the Kafka protocol (CreateAcls, DescribeAcls, DeleteAcls), with
/// the options of Kafka's kafka-acls.sh (--allow-principal, --operation, --topic, --resource-pattern-type, ...).
/// </summary>
internal static class AclsCommand
{
    public static Command Create()
    {
        var acls = new Command("acls", "Add, list and remove ACLs (over the Kafka protocol, with kafka-acls.sh's options).");
        acls.Subcommands.Add(AddCommand());
        acls.Subcommands.Add(ListCommand());
        acls.Subcommands.Add(RemoveCommand());
        return acls;
    }

    private static Command AddCommand()
    {
        var options = new SpecOptions();
        var command = new Command("add", "Add ACLs: each principal, host and operation (default All) on each resource named.");
        options.AddTo(command, principals: true);
        command.SetAction((parse, _) => RunAsync(parse, options, async (admin, spec, timeout) =>
        {
            var bindings = spec.Bindings();
            await admin.CreateAclsAsync(bindings, new CreateAclsOptions { RequestTimeout = timeout }).ConfigureAwait(false);
            await Console.Out.WriteAsync($"Adding ACLs:\n{AclSpec.Format(bindings)}").ConfigureAwait(false);
        }));
        return command;
    }

    private static Command ListCommand()
    {
        var options = new SpecOptions();
        var principal = new Option<string[]>("--principal") { Description = "Only the ACLs of this principal (User:NAME). Repeatable." };
        var command = new Command("list", "List the ACLs of the resources named (all ACLs when none is); --resource-pattern-type defaults to any.") { principal };
        options.AddTo(command, principals: false);
        command.SetAction((parse, _) => RunAsync(parse, options, async (admin, spec, timeout) =>
        {
            var found = new List<AclBinding>();
            foreach (var filter in spec.ListFilters(parse.GetValue(principal) ?? []))
            {
                found.AddRange((await admin.DescribeAclsAsync(filter, new DescribeAclsOptions { RequestTimeout = timeout }).ConfigureAwait(false)).AclBindings);
            }

            await Console.Out.WriteAsync(found.Count == 0 ? "No ACLs.\n" : AclSpec.Format(found.DistinctBy(b => b.ToString()))).ConfigureAwait(false);
        }));
        return command;
    }

    private static Command RemoveCommand()
    {
        var options = new SpecOptions();
        var command = new Command("remove", "Remove the ACLs of the principals, hosts and operations named (all when none is) from each resource named.");
        options.AddTo(command, principals: true);
        command.SetAction((parse, _) => RunAsync(parse, options, async (admin, spec, timeout) =>
        {
            var results = await admin.DeleteAclsAsync(spec.RemoveFilters(), new DeleteAclsOptions { RequestTimeout = timeout }).ConfigureAwait(false);
            var removed = results.SelectMany(r => r.AclBindings).ToList();
            await Console.Out.WriteAsync(removed.Count == 0 ? "No ACLs matched.\n" : $"Removed ACLs:\n{AclSpec.Format(removed)}").ConfigureAwait(false);
        }));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, SpecOptions options, Func<IAdminClient, AclSpec, TimeSpan, Task> action)
    {
        try
        {
            var spec = options.Read(parse);
            var timeout = TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(options.Timeout)));
            using var admin = new AdminClientBuilder(ClientProperties.Apply(new AdminClientConfig { BootstrapServers = parse.GetValue(options.Bootstrap), ClientId = "levee-acls" }, parse.GetValue(options.CommandConfig)))
                .SetLogHandler((_, _) => { })
                .Build();
            await action(admin, spec, timeout).ConfigureAwait(false);
            return 0;
        }
        catch (Exception e) when (e is AclUsageException or ClusterCommandException)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 2;
        }
        catch (CreateAclsException e)
        {
            return await FailAsync(e.Results.Select(r => r.Error)).ConfigureAwait(false);
        }
        catch (DeleteAclsException e)
        {
            return await FailAsync(e.Results.Select(r => r.Error)).ConfigureAwait(false);
        }
        catch (KafkaException e)
        {
            return await FailAsync([e.Error]).ConfigureAwait(false);
        }
    }

    private static async Task<int> FailAsync(IEnumerable<Error> errors)
    {
        foreach (var error in errors.Where(e => e.IsError))
        {
            await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{error.Code}: {error.Reason}")).ConfigureAwait(false);
        }

        return 1;
    }

    /// <summary>kafka-acls.sh's options, shared by the three subcommands.</summary>
    private sealed class SpecOptions
    {
        public Option<string> Bootstrap { get; } = new("--bootstrap") { Description = "Bootstrap servers.", DefaultValueFactory = _ => "127.0.0.1:9092" };

        public Option<string?> CommandConfig { get; } = ClientProperties.Option();

        public Option<int> Timeout { get; } = new("--timeout-s") { Description = "Timeout of each request, in seconds.", DefaultValueFactory = _ => 30 };

        private Option<string[]> AllowPrincipal { get; } = new("--allow-principal") { Description = "Principal (User:NAME, User:* for all) the ACL allows. Repeatable." };

        private Option<string[]> DenyPrincipal { get; } = new("--deny-principal") { Description = "Principal the ACL denies. Repeatable." };

        private Option<string[]> AllowHost { get; } = new("--allow-host") { Description = "Host (IP address) the allow applies from; default every host (*). Repeatable." };

        private Option<string[]> DenyHost { get; } = new("--deny-host") { Description = "Host the deny applies from; default every host (*). Repeatable." };

        private Option<string[]> Operation { get; } = new("--operation") { Description = "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All. Repeatable." };

        private Option<string[]> Topic { get; } = new("--topic") { Description = "A topic (or prefix, or * for every topic). Repeatable." };

        private Option<string[]> Group { get; } = new("--group") { Description = "A consumer group (or prefix, or *). Repeatable." };

        private Option<string[]> TransactionalId { get; } = new("--transactional-id") { Description = "A transactional id (or prefix, or *). Repeatable." };

        private Option<bool> Cluster { get; } = new("--cluster") { Description = "The cluster resource." };

        private Option<string?> PatternType { get; } = new("--resource-pattern-type") { Description = "literal (default to add and remove), prefixed, match or any (default to list)." };

        public void AddTo(Command command, bool principals)
        {
            if (principals)
            {
                command.Options.Add(AllowPrincipal);
                command.Options.Add(DenyPrincipal);
                command.Options.Add(AllowHost);
                command.Options.Add(DenyHost);
                command.Options.Add(Operation);
            }

            command.Options.Add(Topic);
            command.Options.Add(Group);
            command.Options.Add(Cluster);
            command.Options.Add(TransactionalId);
            command.Options.Add(PatternType);
            command.Options.Add(Bootstrap);
            command.Options.Add(CommandConfig);
            command.Options.Add(Timeout);
        }

        public AclSpec Read(ParseResult parse) => new()
        {
            AllowPrincipals = parse.GetValue(AllowPrincipal) ?? [],
            DenyPrincipals = parse.GetValue(DenyPrincipal) ?? [],
            AllowHosts = parse.GetValue(AllowHost) ?? [],
            DenyHosts = parse.GetValue(DenyHost) ?? [],
            Operations = parse.GetValue(Operation) ?? [],
            Topics = parse.GetValue(Topic) ?? [],
            Groups = parse.GetValue(Group) ?? [],
            TransactionalIds = parse.GetValue(TransactionalId) ?? [],
            Cluster = parse.GetValue(Cluster),
            PatternType = parse.GetValue(PatternType),
        };
    }
}
