using System.CommandLine;
using System.Globalization;
using Levee.Broker.Cluster;
using Levee.Commands.Clusters;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Commands;

/// <summary>
/// `levee quotas set|list|remove`: Kafka's client quotas (AlterClientQuotas, DescribeClientQuotas) on user, client-id
/// and ip entities, what kafka-configs.sh does with <c>--entity-type users|clients|ips --add-config k=v</c>.
/// </summary>
internal static class QuotasCommand
{
    private const short Version = 1;

    public static Command Create()
    {
        var quotas = new Command("quotas", "Set, list and remove client quotas (producer_byte_rate, consumer_byte_rate, request_percentage, controller_mutation_rate, connection_creation_rate).");
        quotas.Subcommands.Add(AlterCommand("set", "Set quotas of one entity: --user and/or --client-id, or --ip; --config key=value, repeatable.", remove: false));
        quotas.Subcommands.Add(AlterCommand("remove", "Remove quotas of one entity: --config key, repeatable.", remove: true));
        quotas.Subcommands.Add(ListCommand());
        return quotas;
    }

    private static Command AlterCommand(string name, string description, bool remove)
    {
        var entity = new EntityOptions();
        var config = new Option<string[]>("--config") { Description = remove ? "A quota key to remove." : "A quota as key=value.", Required = true, AllowMultipleArgumentsPerToken = true };
        var command = new Command(name, description) { config };
        entity.AddTo(command);
        command.SetAction((parse, _) => RunAsync(parse, entity, async (client, cancel) =>
        {
            var entry = new AlterClientQuotasRequest.EntryData();
            entry.Entity.AddRange(entity.Read(parse).Select(p => new AlterClientQuotasRequest.EntityData { EntityType = p.Type, EntityName = p.Name }));
            foreach (var item in parse.GetValue(config) ?? [])
            {
                entry.Ops.Add(remove ? new AlterClientQuotasRequest.OpData { Key = item, Remove = true } : Op(item));
            }

            var request = new AlterClientQuotasRequest();
            request.Entries.Add(entry);
            var response = await client.SendAsync<AlterClientQuotasRequest, AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, Version, request, cancel).ConfigureAwait(false);
            var result = response.Entries.Single();
            if (result.ErrorCode != 0)
            {
                throw new ClusterCommandException($"{(ErrorCode)result.ErrorCode}: {result.ErrorMessage}");
            }

            Console.WriteLine($"Completed updating quotas for {Describe(entry.Entity.Select(e => (e.EntityType, e.EntityName)))}.");
        }));
        return command;
    }

    private static Command ListCommand()
    {
        var entity = new EntityOptions();
        var command = new Command("list", "List quotas: of the entities that have every part named (a name, or --*-defaults for the default), or of all entities when none is named.");
        entity.AddTo(command);
        command.SetAction((parse, _) => RunAsync(parse, entity, async (client, cancel) =>
        {
            var request = new DescribeClientQuotasRequest();
            request.Components.AddRange(entity.Read(parse, allowEmpty: true).Select(p => new DescribeClientQuotasRequest.ComponentData
            {
                EntityType = p.Type,
                MatchType = p.Name is null ? (sbyte)1 : (sbyte)0,
                Match = p.Name,
            }));
            var response = await client.SendAsync<DescribeClientQuotasRequest, DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, Version, request, cancel).ConfigureAwait(false);
            if (response.ErrorCode != 0)
            {
                throw new ClusterCommandException($"{(ErrorCode)response.ErrorCode}: {response.ErrorMessage}");
            }

            var entries = response.Entries ?? [];
            if (entries.Count == 0)
            {
                Console.WriteLine("No quotas.");
            }

            foreach (var entry in entries)
            {
                var values = string.Join(", ", entry.Values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key}={v.Value.ToString(CultureInfo.InvariantCulture)}"));
                Console.WriteLine($"Quota configs for {Describe(entry.Entity.Select(e => (e.EntityType, e.EntityName)))} are {values}");
            }
        }));
        return command;
    }

    private static AlterClientQuotasRequest.OpData Op(string item)
    {
        var equals = item.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0 || !double.TryParse(item.AsSpan(equals + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            throw new ClusterCommandException($"--config '{item}' is not key=number.");
        }

        return new AlterClientQuotasRequest.OpData { Key = item[..equals], Value = value };
    }

    private static string Describe(IEnumerable<(string Type, string? Name)> parts) =>
        string.Join(", ", parts.Select(p => $"{p.Type} '{p.Name ?? "<default>"}'"));

    private static async Task<int> RunAsync(ParseResult parse, EntityOptions entity, Func<BrokerClient, CancellationToken, Task> action)
    {
        try
        {
            var server = ClusterFile.ResolveBootstrap(parse.GetValue(entity.Bootstrap), ".").Split(',')[0].Trim();
            await using var client = ClusterAdmin.Connect(server, "levee-quotas", ClientProperties.Security(parse.GetValue(entity.CommandConfig)));
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await action(client, cancel.Token).ConfigureAwait(false);
            return 0;
        }
        catch (ClusterCommandException e)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 2;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"No answer from the broker: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    // kafka-configs.sh's entity options: a name, or the entity type's default.
    private sealed class EntityOptions
    {
        public Option<string?> Bootstrap { get; } = ClusterCommand.BootstrapOption();

        public Option<string?> CommandConfig { get; } = ClientProperties.Option();

        public Option<string?> User { get; } = new("--user") { Description = "A user (principal name)." };

        public Option<bool> UserDefault { get; } = new("--user-defaults") { Description = "The default user entity." };

        public Option<string?> ClientId { get; } = new("--client-id") { Description = "A client id." };

        public Option<bool> ClientIdDefault { get; } = new("--client-id-defaults") { Description = "The default client-id entity." };

        public Option<string?> Ip { get; } = new("--ip") { Description = "An IP address (connection_creation_rate only)." };

        public Option<bool> IpDefault { get; } = new("--ip-defaults") { Description = "The default ip entity." };

        public void AddTo(Command command)
        {
            command.Options.Add(Bootstrap);
            command.Options.Add(CommandConfig);
            command.Options.Add(User);
            command.Options.Add(UserDefault);
            command.Options.Add(ClientId);
            command.Options.Add(ClientIdDefault);
            command.Options.Add(Ip);
            command.Options.Add(IpDefault);
        }

        public List<(string Type, string? Name)> Read(ParseResult parse, bool allowEmpty = false)
        {
            var parts = new List<(string Type, string? Name)>();
            Add(parts, parse, "user", User, UserDefault);
            Add(parts, parse, "client-id", ClientId, ClientIdDefault);
            Add(parts, parse, "ip", Ip, IpDefault);
            if (parts.Count == 0 && !allowEmpty)
            {
                throw new ClusterCommandException("Name an entity: --user, --client-id, --ip, or their --*-defaults.");
            }

            return parts;
        }

        private static void Add(List<(string Type, string? Name)> parts, ParseResult parse, string type, Option<string?> name, Option<bool> byDefault)
        {
            var named = parse.GetValue(name);
            var isDefault = parse.GetValue(byDefault);
            if (named is not null && isDefault)
            {
                throw new ClusterCommandException($"Name the {type} or its default, not both.");
            }

            if (named is not null || isDefault)
            {
                parts.Add((type, named));
            }
        }
    }
}
