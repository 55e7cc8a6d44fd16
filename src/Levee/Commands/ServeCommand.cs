using System.CommandLine;
using Levee.Broker;
using Microsoft.Extensions.Configuration;

namespace Levee.Commands;

/// <summary>`levee serve`: runs one broker until SIGTERM or SIGINT.</summary>
internal static class ServeCommand
{
    /// <summary>`--log-format text|json` (log.format), for serve and for what starts brokers.</summary>
    public static Option<string?> LogFormatOption() => new("--log-format")
    {
        Description = "Log format (log.format): text, one line per entry (default), or json, one JSON object per line for log shippers.",
        CustomParser = r => r.Tokens[0].Value.ToLowerInvariant() is "text" or "json" ? r.Tokens[0].Value.ToLowerInvariant() : Refuse(r),
    };

    public static Command Create()
    {
        var dataDir = new Option<string?>("--data-dir") { Description = "Data directory (log.dirs). Default ./data." };
        var port = new Option<int?>("--port") { Description = "Kafka listener port. Default 9092." };
        var host = new Option<string?>("--host") { Description = "Kafka listener host. Default 127.0.0.1." };
        var nodeId = new Option<int?>("--node-id") { Description = "Broker id (node.id). Default 1." };
        var voters = new Option<string?>("--voters") { Description = "Metadata quorum voters, id@host:port,... (controller.quorum.voters). Default: this broker alone." };
        var config = new Option<string?>("--config") { Description = "JSON config file with Kafka-style keys. Default levee.json when present." };
        var set = new Option<string[]>("--set") { Description = "Any setting as key=value, e.g. --set auto.create.topics.enable=false.", AllowMultipleArgumentsPerToken = true };
        var logFormat = LogFormatOption();

        var command = new Command("serve", "Run a Levee broker.") { dataDir, port, host, nodeId, voters, config, set, logFormat };
        command.SetAction(async (parse, cancellation) =>
        {
            var flags = new Dictionary<string, string?>(StringComparer.Ordinal);
            AddIfSet(flags, "log.dirs", parse.GetValue(dataDir));
            AddIfSet(flags, "port", parse.GetValue(port)?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            AddIfSet(flags, "host", parse.GetValue(host));
            AddIfSet(flags, "node.id", parse.GetValue(nodeId)?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            AddIfSet(flags, "controller.quorum.voters", parse.GetValue(voters));
            AddIfSet(flags, "log.format", parse.GetValue(logFormat));
            foreach (var pair in parse.GetValue(set) ?? [])
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    await Console.Error.WriteLineAsync($"--set expects key=value, got '{pair}'").ConfigureAwait(false);
                    return 2;
                }

                flags[pair[..eq]] = pair[(eq + 1)..];
            }

            var configFile = parse.GetValue(config);
            var configuration = new ConfigurationBuilder()
                .AddJsonFile(Path.GetFullPath(configFile ?? "levee.json"), optional: configFile is null)
                .AddEnvironmentVariables("LEVEE_")
                .AddInMemoryCollection(flags)
                .Build();
            // An unknown or malformed setting stops the broker before it opens anything, naming the setting.
            LeveeBroker broker;
            try
            {
                broker = await LeveeBroker.StartAsync(BrokerOptions.FromConfiguration(configuration), cancellationToken: cancellation).ConfigureAwait(false);
            }
            catch (BrokerConfigurationException ex)
            {
                await Console.Error.WriteLineAsync($"levee serve: {ex.Message}").ConfigureAwait(false);
                return 2;
            }

            await using (broker.ConfigureAwait(false))
            {
                await broker.WaitForShutdownAsync(cancellation).ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }

    private static string? Refuse(System.CommandLine.Parsing.ArgumentResult result)
    {
        result.AddError($"--log-format must be text or json, not '{result.Tokens[0].Value}'.");
        return null;
    }

    private static void AddIfSet(Dictionary<string, string?> flags, string key, string? value)
    {
        if (value is not null)
        {
            flags[key] = value;
        }
    }
}
