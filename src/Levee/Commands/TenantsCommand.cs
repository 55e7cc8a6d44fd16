using System.CommandLine;
using Levee.Commands.Clusters;
using Levee.Commands.Tenants;

namespace Levee.Commands;

/// <summary>
/// `levee tenants create|list|describe|set-plan|credentials|delete`: Levee's tenants, each on a plan, with the SCRAM
/// users bound to it and its topics and groups under its prefix. A tenant is a config resource of Levee's own type
/// (TENANT) in IncrementalAlterConfigs and DescribeConfigs (<see cref="TenantAdmin"/>).
/// </summary>
internal static class TenantsCommand
{
    public static Command Create()
    {
        var tenants = new Command("tenants", "Create, list, describe and delete tenants, move them between plans, and make or revoke their clients' credentials.");
        tenants.Subcommands.Add(CreateCommand());
        tenants.Subcommands.Add(ConfigView.ListCommand(TenantAdmin.TenantResource, "List the tenants and their plans.", "tenant", "plan", "No tenants."));
        tenants.Subcommands.Add(ConfigView.DescribeCommand(TenantAdmin.TenantResource, "tenant", "A tenant's plan, users, prefix, limits and usage across the cluster (each broker's part summed)."));
        tenants.Subcommands.Add(SetPlanCommand());
        tenants.Subcommands.Add(CredentialsCommand());
        tenants.Subcommands.Add(DeleteCommand());
        return tenants;
    }

    private static Argument<string> NameArgument() => new("NAME") { Description = "The tenant." };

    private static Command CreateCommand()
    {
        var name = NameArgument();
        var plan = new Option<string>("--plan") { Description = "The tenant's plan.", Required = true };
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var client = new ClientSettingsOptions();
        var command = new Command("create", "Create a tenant on a plan with one SCRAM-SHA-512 user for its clients, and print the client settings, password included, once.") { name, plan, bootstrap, commandConfig };
        client.AddTo(command);
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var tenant = TenantNames.Check(parse.GetValue(name)!, "tenant");
            var planName = TenantNames.Check(parse.GetValue(plan)!, "plan");
            var endpoint = client.Read(parse, admin.Bootstrap);

            // SET plan also changes an existing tenant's plan, and undoing would delete that tenant: refuse instead.
            var existing = await admin.DescribeAsync(TenantAdmin.TenantResource, "").ConfigureAwait(false);
            if (existing.Any(t => t.Key == tenant))
            {
                throw new ClusterCommandException($"Tenant {tenant} exists; `levee tenants set-plan` changes its plan, `levee tenants credentials rotate` makes a new user.");
            }

            await admin.SetPlanAsync(tenant, planName).ConfigureAwait(false);
            ClientSettings settings;
            try
            {
                settings = await admin.AddUserAsync(tenant, endpoint).ConfigureAwait(false);
            }
            catch (Exception e) when (TenantAdmin.IsFailure(e))
            {
                throw await TenantAdmin.UndoAsync(e, $"delete tenant {tenant}", () => admin.DeleteTenantAsync(tenant)).ConfigureAwait(false);
            }

            settings.Write(Console.Out, $"Created tenant {tenant} on plan {planName}. Its clients connect with:", parse.GetValue(client.Json));
        }));
        return command;
    }

    private static Command SetPlanCommand()
    {
        var name = NameArgument();
        var plan = new Argument<string>("PLAN") { Description = "The tenant's new plan." };
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var command = new Command("set-plan", "Move a tenant to another plan.") { name, plan, bootstrap, commandConfig };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var tenant = TenantNames.Check(parse.GetValue(name)!, "tenant");
            var planName = TenantNames.Check(parse.GetValue(plan)!, "plan");
            await admin.SetPlanAsync(tenant, planName).ConfigureAwait(false);
            Console.WriteLine($"Tenant {tenant} is on plan {planName}.");
        }));
        return command;
    }

    private static Command CredentialsCommand()
    {
        var credentials = new Command("credentials", "Make a new user for a tenant's clients, or revoke one.");
        credentials.Subcommands.Add(RotateCommand());
        credentials.Subcommands.Add(RevokeCommand());
        credentials.Subcommands.Add(CertificateCommand(unbind: false));
        credentials.Subcommands.Add(CertificateCommand(unbind: true));
        return credentials;
    }

    private static Command CertificateCommand(bool unbind)
    {
        var name = NameArgument();
        var principal = new Argument<string>("NAME") { Description = "The name ssl.principal.mapping.rules makes of the client certificate's subject." };
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var command = unbind
            ? new Command("unbind-certificate", "Unbind a client certificate's name from its tenant.") { name, principal, bootstrap, commandConfig }
            : new Command("bind-certificate", "Bind a client certificate's name to a tenant: a client presenting it on an SSL listener is the tenant's, in its namespace and on its plan.") { name, principal, bootstrap, commandConfig };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var tenant = TenantNames.Check(parse.GetValue(name)!, "tenant");
            var bound = parse.GetValue(principal)!;
            await admin.BindCertificateAsync(tenant, bound, unbind).ConfigureAwait(false);
            Console.WriteLine(unbind ? $"Unbound certificate name {bound} from tenant {tenant}." : $"Bound certificate name {bound} to tenant {tenant}.");
        }));
        return command;
    }

    private static Command RotateCommand()
    {
        var name = NameArgument();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var client = new ClientSettingsOptions();
        var command = new Command("rotate", "Make a new SCRAM-SHA-512 user for a tenant and print its client settings once; the tenant's other users keep working until revoked.") { name, bootstrap, commandConfig };
        client.AddTo(command);
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var tenant = TenantNames.Check(parse.GetValue(name)!, "tenant");
            var settings = await admin.AddUserAsync(tenant, client.Read(parse, admin.Bootstrap)).ConfigureAwait(false);
            settings.Write(Console.Out, $"New user for tenant {tenant} (its other users keep working until revoked). Its clients connect with:", parse.GetValue(client.Json));
        }));
        return command;
    }

    private static Command RevokeCommand()
    {
        var name = NameArgument();
        var user = new Argument<string>("USER") { Description = "One of the tenant's users." };
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var command = new Command("revoke", "Unbind a user from its tenant and delete its SCRAM-SHA-512 credential.") { name, user, bootstrap, commandConfig };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var tenant = TenantNames.Check(parse.GetValue(name)!, "tenant");
            var revoked = parse.GetValue(user)!;

            // Only the tenant's own users: the credential deleted next may be anyone's.
            var users = UsersOf(await admin.DescribeAsync(TenantAdmin.TenantResource, tenant).ConfigureAwait(false));
            if (!users.Contains(revoked, StringComparer.Ordinal))
            {
                throw new ClusterCommandException($"{revoked} is not a user of tenant {tenant} (its users: {(users.Count == 0 ? "none" : string.Join(", ", users))}).");
            }

            await admin.RemoveUserAsync(tenant, revoked).ConfigureAwait(false);
            Console.WriteLine($"Revoked user {revoked} of tenant {tenant}: unbound, and its SCRAM-SHA-512 credential deleted.");
        }));
        return command;
    }

    private static Command DeleteCommand()
    {
        var name = NameArgument();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var command = new Command("delete", "Delete a tenant with all it has: the topics and groups under its prefix, its users and their credentials.") { name, bootstrap, commandConfig };
        command.SetAction((parse, _) => TenantAdmin.RunAsync(parse.GetValue(bootstrap), parse.GetValue(commandConfig), async admin =>
        {
            var tenant = TenantNames.Check(parse.GetValue(name)!, "tenant");
            var configs = await admin.DescribeAsync(TenantAdmin.TenantResource, tenant).ConfigureAwait(false);

            // Everything whose name starts with the prefix is deleted: an empty one would be every topic and group.
            var prefix = Value(configs, "prefix");
            if (string.IsNullOrEmpty(prefix))
            {
                throw new ClusterCommandException($"The broker reports no prefix for tenant {tenant}; nothing deleted.");
            }

            foreach (var topic in await admin.DeleteTopicsAsync(prefix).ConfigureAwait(false))
            {
                Console.WriteLine($"Deleted topic {topic}.");
            }

            foreach (var group in await admin.DeleteGroupsAsync(prefix).ConfigureAwait(false))
            {
                Console.WriteLine($"Deleted group {group}.");
            }

            foreach (var user in UsersOf(configs))
            {
                await admin.RemoveUserAsync(tenant, user).ConfigureAwait(false);
                Console.WriteLine($"Removed user {user} and its credential.");
            }

            await admin.DeleteTenantAsync(tenant).ConfigureAwait(false);
            Console.WriteLine($"Deleted tenant {tenant}.");
        }));
        return command;
    }

    private static string? Value(IReadOnlyList<KeyValuePair<string, string?>> configs, string key) =>
        configs.FirstOrDefault(c => c.Key == key).Value;

    private static List<string> UsersOf(IReadOnlyList<KeyValuePair<string, string?>> configs) =>
        [.. (Value(configs, "users") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}
