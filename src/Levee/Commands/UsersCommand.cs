using System.CommandLine;
using System.Globalization;
using Levee.Broker.Security;
using Levee.Commands.Clusters;
using Spectre.Console;
using ScramMechanism = Levee.Cluster.Metadata.ScramMechanism;

namespace Levee.Commands;

/// <summary>
/// `levee users set|list|delete`: SCRAM credentials, like Kafka's `kafka-configs --alter --add-config SCRAM-...`
/// online (AlterUserScramCredentials, as a super user) and `kafka-storage format --add-scram` before a first start
/// (`--data-dir`). Passwords are read from a file or stdin, never from the command line.
/// </summary>
internal static class UsersCommand
{
    public static Command Create()
    {
        var users = new Command("users", "Set, list and delete users' SCRAM credentials (SASL PLAIN and SCRAM check them).");
        users.Subcommands.Add(SetCommand());
        users.Subcommands.Add(ListCommand());
        users.Subcommands.Add(DeleteCommand());
        return users;
    }

    private static Option<string> MechanismOption() => new("--mechanism") { Description = "SCRAM-SHA-256 or SCRAM-SHA-512.", DefaultValueFactory = _ => "SCRAM-SHA-512" };

    private static Option<string?> DataDirOption() => new("--data-dir") { Description = "A broker's data directory, before it starts: the credential is committed at its first start." };

    private static Command SetCommand()
    {
        var name = new Argument<string>("NAME") { Description = "The user." };
        var mechanism = MechanismOption();
        var passwordFile = new Option<string>("--password-file") { Description = "A file whose first line is the password ('-': stdin).", Required = true };
        var iterations = new Option<int>("--iterations") { Description = "PBKDF2 iterations (4096-16384).", DefaultValueFactory = _ => ScramAdmin.DefaultIterations };
        var dataDir = DataDirOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var timeout = ClusterCommand.TimeoutOption(30);
        var command = new Command("set", "Create or replace a user's SCRAM credential.") { name, mechanism, passwordFile, iterations, dataDir, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var user = parse.GetValue(name)!;
            var scram = Mechanism(parse.GetValue(mechanism)!);
            var rounds = parse.GetValue(iterations);
            if (rounds is < ScramFormatter.MinIterations or > ScramFormatter.MaxIterations)
            {
                throw new ClusterCommandException($"--iterations must be between {ScramFormatter.MinIterations} and {ScramFormatter.MaxIterations}.");
            }

            var password = await ReadPasswordAsync(parse.GetValue(passwordFile)!).ConfigureAwait(false);
            if (parse.GetValue(dataDir) is { } dir)
            {
                CredentialBootstrap.Write(Path.GetFullPath(dir), ScramFormatter.CreateCredential(user, scram, password, rounds));
                Console.WriteLine($"User {user} ({ScramFormatter.MechanismName(scram)}) will be created when the broker in {dir} first starts.");
                return 0;
            }

            using var admin = ScramAdmin.Create(parse.GetValue(bootstrap), parse.GetValue(commandConfig), parse.GetValue(timeout));
            await ScramAdmin.UpsertAsync(admin, user, scram, password, rounds).ConfigureAwait(false);
            Console.WriteLine($"User {user} ({ScramFormatter.MechanismName(scram)}) set.");
            return 0;
        }));
        return command;
    }

    private static Command ListCommand()
    {
        var dataDir = DataDirOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var timeout = ClusterCommand.TimeoutOption(30);
        var command = new Command("list", "List users with their mechanisms and iterations (never a key).") { dataDir, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var rows = new List<(string User, string Mechanism, int Iterations)>();
            if (parse.GetValue(dataDir) is { } dir)
            {
                rows.AddRange(CredentialBootstrap.Read(Path.GetFullPath(dir)).Select(c => (c.Name, ScramFormatter.MechanismName(c.Mechanism) + " (pending)", c.Iterations)));
            }
            else
            {
                using var admin = ScramAdmin.Create(parse.GetValue(bootstrap), parse.GetValue(commandConfig), parse.GetValue(timeout));
                var described = await admin.DescribeUserScramCredentialsAsync([]).ConfigureAwait(false);
                rows.AddRange(described.UserScramCredentialsDescriptions.SelectMany(d => d.ScramCredentialInfos.Select(i => (d.User, i.Mechanism == Confluent.Kafka.Admin.ScramMechanism.ScramSha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512", i.Iterations))));
            }

            var table = new Table().AddColumns("user", "mechanism", "iterations");
            foreach (var (user, mechanism, iterations) in rows.OrderBy(r => r.User, StringComparer.Ordinal))
            {
                table.AddRow(Markup.Escape(user), mechanism, iterations.ToString(CultureInfo.InvariantCulture));
            }

            ClusterCommand.CreateConsole().Write(table);
            return 0;
        }));
        return command;
    }

    private static Command DeleteCommand()
    {
        var name = new Argument<string>("NAME") { Description = "The user." };
        var mechanism = MechanismOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var timeout = ClusterCommand.TimeoutOption(30);
        var command = new Command("delete", "Delete a user's SCRAM credential for one mechanism.") { name, mechanism, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var user = parse.GetValue(name)!;
            var scram = Mechanism(parse.GetValue(mechanism)!);
            using var admin = ScramAdmin.Create(parse.GetValue(bootstrap), parse.GetValue(commandConfig), parse.GetValue(timeout));
            await ScramAdmin.DeleteAsync(admin, user, scram).ConfigureAwait(false);
            Console.WriteLine($"User {user} ({ScramFormatter.MechanismName(scram)}) deleted.");
            return 0;
        }));
        return command;
    }

    private static ScramMechanism Mechanism(string name) => ScramFormatter.Parse(name.ToUpperInvariant()) is var m && m != ScramMechanism.Unknown
        ? m
        : throw new ClusterCommandException($"--mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512, not '{name}'.");

    private static async Task<string> ReadPasswordAsync(string path)
    {
        var text = path == "-" ? await Console.In.ReadToEndAsync().ConfigureAwait(false) : await File.ReadAllTextAsync(path).ConfigureAwait(false);
        var password = text.Split('\n')[0].TrimEnd('\r');
        return password.Length > 0 ? password : throw new ClusterCommandException("The password file's first line is empty.");
    }
}
