using System.CommandLine;
using System.Globalization;
using Levee.Commands.Bench;
using Levee.Commands.Clusters;

namespace Levee.Commands;

/// <summary>
/// `levee bench`: load generators built on Confluent.Kafka (librdkafka, what most production clients run)
/// and a null broker to measure them against. See docs/benchmarks.md.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure a Kafka broker (Levee or any other) with Confluent.Kafka, or run the null broker baseline.");
        bench.Subcommands.Add(ClientCommand("produce", "Produce N records as fast as allowed; latency is send-to-acknowledgement.", BenchMode.Produce));
        bench.Subcommands.Add(ClientCommand("consume", "Consume N records from the start of the topic's partitions; latency is the wait per record.", BenchMode.Consume));
        bench.Subcommands.Add(ClientCommand("e2e", "Produce at a fixed --rate while consuming; latency is produce-to-consume, from a timestamp in each record.", BenchMode.EndToEnd));
        bench.Subcommands.Add(NullBrokerCommand());
        return bench;
    }

    private static Command ClientCommand(string name, string description, BenchMode mode)
    {
        var bootstrap = new Option<string>("--bootstrap") { Description = "Bootstrap servers.", DefaultValueFactory = _ => "127.0.0.1:9092" };
        var topic = new Option<string>("--topic") { Description = "Topic (created with --partitions when missing).", DefaultValueFactory = _ => "bench" };
        var records = new Option<long>("--records") { Description = "Number of records.", DefaultValueFactory = _ => 100_000 };
        var size = new Option<int>("--size") { Description = "Record value size in bytes.", DefaultValueFactory = _ => 1024 };
        var partitions = new Option<int>("--partitions") { Description = "Partitions of the topic; records go round-robin over them.", DefaultValueFactory = _ => 1 };
        var producers = new Option<int>("--producers") { Description = "Producer (or consumer) client instances, each with its own connection.", DefaultValueFactory = _ => 1 };
        var acks = new Option<string>("--acks") { Description = "0, 1 or all.", DefaultValueFactory = _ => "1" };
        var compression = new Option<string>("--compression") { Description = "none, gzip, snappy, lz4 or zstd.", DefaultValueFactory = _ => "none" };
        var rate = new Option<double>("--rate") { Description = "Offered load in records/s over all producers; 0 = as fast as possible.", DefaultValueFactory = _ => 0 };
        var linger = new Option<double>("--linger-ms") { Description = "Producer linger.ms.", DefaultValueFactory = _ => 5 };
        var timeout = new Option<int>("--timeout-s") { Description = "Give up after this many seconds.", DefaultValueFactory = _ => 300 };
        var json = new Option<string?>("--json") { Description = "Write the result as JSON to this file." };
        var quiet = new Option<bool>("--no-progress") { Description = "No live progress bar." };
        var commandConfig = ClientProperties.Option();
        var command = new Command(name, description) { bootstrap, commandConfig, topic, records, size, partitions, producers, acks, compression, rate, linger, timeout, json, quiet };
        command.SetAction(async (parse, cancellation) =>
        {
            var settings = new BenchSettings
            {
                Mode = mode,
                Bootstrap = parse.GetValue(bootstrap)!,
                Topic = parse.GetValue(topic)!,
                Records = parse.GetValue(records),
                Size = parse.GetValue(size),
                Partitions = parse.GetValue(partitions),
                Producers = parse.GetValue(producers),
                Acks = parse.GetValue(acks)!,
                Compression = parse.GetValue(compression)!,
                Rate = parse.GetValue(rate),
                LingerMs = parse.GetValue(linger),
                TimeoutSeconds = parse.GetValue(timeout),
                Progress = !parse.GetValue(quiet),
                CommandConfig = parse.GetValue(commandConfig),
            };
            if (settings.Validate() is { } problem)
            {
                await Console.Error.WriteLineAsync(problem).ConfigureAwait(false);
                return 2;
            }

            try
            {
                ClientProperties.Apply(new Confluent.Kafka.ClientConfig(), settings.CommandConfig);
            }
            catch (ClusterCommandException e)
            {
                await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }

            var result = await ClientBench.RunAsync(settings, cancellation).ConfigureAwait(false);
            BenchReport.Print(settings, result);
            if (parse.GetValue(json) is { } file)
            {
                BenchReport.WriteJson(file, settings, result);
            }

            return result.Completed ? 0 : 1;
        });
        return command;
    }

    private static Command NullBrokerCommand()
    {
        var port = new Option<int>("--port") { Description = "Kafka listener port.", DefaultValueFactory = _ => 9192 };
        var host = new Option<string>("--host") { Description = "Listener host.", DefaultValueFactory = _ => "127.0.0.1" };
        var partitions = new Option<int>("--partitions") { Description = "Partitions of topics not created through CreateTopics.", DefaultValueFactory = _ => 1 };
        var size = new Option<int>("--fetch-record-size") { Description = "Value size of the records in the fixed batch that Fetch serves.", DefaultValueFactory = _ => 1024 };
        var command = new Command("null-broker", "A broker that answers at once and stores nothing: the baseline for `levee bench`.") { port, host, partitions, size };
        command.SetAction(async (parse, cancellation) =>
        {
            await using var broker = await NullBroker.StartAsync(parse.GetValue(host)!, parse.GetValue(port), parse.GetValue(partitions), parse.GetValue(size), cancellation).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Null broker ready on {broker.Host}:{broker.Port}"));
            await broker.WaitForShutdownAsync(cancellation).ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}
