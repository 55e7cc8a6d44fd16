using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Levee.Commands.Clusters;

namespace Levee.Commands;

/// <summary>`levee topics tail|write`: records as they arrive, and records from stdin, with any client settings (SASL, TLS).</summary>
internal static partial class TopicsCommand
{
    private static Command TailCommand()
    {
        var name = new Argument<string>("TOPIC") { Description = "The topic to read." };
        var fromBeginning = new Option<bool>("--from-beginning") { Description = "Start at the oldest record of each partition instead of the end." };
        var maxRecords = new Option<long>("--max-records") { Description = "Exit after this many records (0: until Ctrl-C).", DefaultValueFactory = _ => 0 };
        var printKey = new Option<bool>("--print-key") { Description = "Print each record's key before its value, separated by --key-separator." };
        var separator = KeySeparatorOption();
        var json = JsonOption("Print one JSON object per record: partition, offset, timestamp_ms, key, value.");
        var (dir, bootstrap, commandConfig, timeout) = ConnectionOptions(10);
        var command = new Command("tail", "Print a topic's records as they arrive (all partitions), until Ctrl-C.") { name, fromBeginning, maxRecords, printKey, separator, json, dir, bootstrap, commandConfig, timeout };
        command.SetAction((parse, cancellation) => ClusterCommand.RunAsync(async () =>
        {
            var topic = parse.GetValue(name)!;
            var servers = ClusterFile.ResolveBootstrap(parse.GetValue(bootstrap), Path.GetFullPath(parse.GetValue(dir)!));
            var wait = TimeSpan.FromSeconds(parse.GetValue(timeout));
            var client = ClientProperties.Apply(new ClientConfig { BootstrapServers = servers, SocketTimeoutMs = (int)wait.TotalMilliseconds }, parse.GetValue(commandConfig));
            var partitions = await PartitionsOfAsync(client, topic, wait).ConfigureAwait(false);

            // Partitions are assigned, not subscribed: no group joins, and nothing is committed.
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(client) { GroupId = "levee-tail", EnableAutoCommit = false, EnableAutoOffsetStore = false }).Build();

            // Explicit start offsets, resolved before the ready line: a record written after it is always printed
            // (a logical "end" would be resolved later, on the first fetch).
            var start = partitions.Select(p => new TopicPartitionOffset(topic, p, parse.GetValue(fromBeginning)
                ? Offset.Beginning
                : consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), wait).High)).ToList();
            consumer.Assign(start);
            await Console.Error.WriteLineAsync($"Tailing {topic} ({partitions.Count} partition(s)) from {(parse.GetValue(fromBeginning) ? "the beginning" : "the end")}; Ctrl-C to stop.").ConfigureAwait(false);

            // Ctrl-C (SIGINT) and SIGTERM stop the loop; the consumer is then closed and the command exits 0.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, StopOn(stop));
            using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, StopOn(stop));
            var limit = parse.GetValue(maxRecords);
            var keySeparator = parse.GetValue(separator)!;
            var printed = 0L;
            using var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
            while (!stop.IsCancellationRequested && (limit <= 0 || printed < limit))
            {
                ConsumeResult<byte[]?, byte[]?>? record;
                try
                {
                    record = consumer.Consume(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                if (record is null || record.IsPartitionEOF)
                {
                    continue;
                }

                await output.WriteLineAsync(parse.GetValue(json)
                    ? RecordJson(record)
                    : parse.GetValue(printKey) ? $"{Text(record.Message.Key)}{keySeparator}{Text(record.Message.Value)}" : Text(record.Message.Value)).ConfigureAwait(false);
                printed++;
            }

            consumer.Close();
            await Console.Error.WriteLineAsync($"Stopped after {printed} record(s).").ConfigureAwait(false);
            return 0;
        }));
        return command;
    }

    private static Command WriteCommand()
    {
        var name = new Argument<string>("TOPIC") { Description = "The topic to write to." };
        var separator = KeySeparatorOption();
        var keyed = new Option<bool>("--keyed") { Description = "Each line is key, --key-separator, value (a line without the separator is refused)." };
        var (dir, bootstrap, commandConfig, timeout) = ConnectionOptions(30);
        var command = new Command("write", "Write records from stdin, one per line (acks=all, idempotent), and report how many were acknowledged.") { name, keyed, separator, dir, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => ClusterCommand.RunAsync(async () =>
        {
            var topic = parse.GetValue(name)!;
            var servers = ClusterFile.ResolveBootstrap(parse.GetValue(bootstrap), Path.GetFullPath(parse.GetValue(dir)!));
            var timeoutMs = parse.GetValue(timeout) * 1000;
            var config = ClientProperties.Apply(
                new ProducerConfig { BootstrapServers = servers, Acks = Acks.All, EnableIdempotence = true, LingerMs = 5, MessageTimeoutMs = timeoutMs, SocketTimeoutMs = timeoutMs },
                parse.GetValue(commandConfig));
            var keySeparator = parse.GetValue(separator)!;
            using var producer = new ProducerBuilder<string?, string>(config).Build();
            var sent = 0L;
            var failed = 0L;
            string? firstError = null;
            string? line;
            while ((line = await Console.In.ReadLineAsync().ConfigureAwait(false)) is not null)
            {
                var message = new Message<string?, string> { Value = line };
                if (parse.GetValue(keyed))
                {
                    var at = line.IndexOf(keySeparator, StringComparison.Ordinal);
                    if (at < 0)
                    {
                        throw new ClusterCommandException($"Line {sent + 1} has no key separator '{keySeparator}'; {sent} record(s) sent before it.");
                    }

                    message = new Message<string?, string> { Key = line[..at], Value = line[(at + keySeparator.Length)..] };
                }

                producer.Produce(topic, message, report =>
                {
                    if (report.Error.IsError)
                    {
                        Interlocked.CompareExchange(ref firstError, $"{report.Error.Code}: {report.Error.Reason}", null);
                        Interlocked.Increment(ref failed);
                    }
                });
                sent++;
            }

            var left = producer.Flush(TimeSpan.FromMilliseconds(timeoutMs));
            var acknowledged = sent - Interlocked.Read(ref failed) - left;
            await Console.Error.WriteLineAsync($"Wrote {acknowledged} of {sent} record(s) to {topic}.").ConfigureAwait(false);
            if (acknowledged != sent)
            {
                throw new ClusterCommandException($"{sent - acknowledged} record(s) not acknowledged: {firstError ?? "not delivered in time"}.");
            }

            return 0;
        }));
        return command;
    }

    private static Action<PosixSignalContext> StopOn(CancellationTokenSource stop) => context =>
    {
        context.Cancel = true;
        stop.Cancel();
    };

    private static Option<string> KeySeparatorOption() => new("--key-separator") { Description = "What separates a key from its value.", DefaultValueFactory = _ => ":" };

    private static Option<bool> JsonOption(string description) => new("--json") { Description = description };

    private static (Option<string> Dir, Option<string?> Bootstrap, Option<string?> CommandConfig, Option<int> Timeout) ConnectionOptions(int timeoutSeconds) =>
        (ClusterCommand.DirOption(), ClusterCommand.BootstrapOption(), ClientProperties.Option(), ClusterCommand.TimeoutOption(timeoutSeconds));

    private static async Task<List<int>> PartitionsOfAsync(ClientConfig config, string topic, TimeSpan timeout)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig(config)).Build();
        var metadata = await Task.Run(() => admin.GetMetadata(topic, timeout)).ConfigureAwait(false);
        var described = metadata.Topics.SingleOrDefault(t => t.Topic == topic);
        if (described is null || described.Error.IsError || described.Partitions.Count == 0)
        {
            throw new ClusterCommandException($"Topic {topic}: {(described?.Error.IsError == true ? described.Error.Code.ToString() : "not found")}.");
        }

        return [.. described.Partitions.Select(p => p.PartitionId).Order()];
    }

    private static string Text(byte[]? bytes) => bytes is null ? "" : Encoding.UTF8.GetString(bytes);

    private static string RecordJson(ConsumeResult<byte[]?, byte[]?> record)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("partition", record.Partition.Value);
            writer.WriteNumber("offset", record.Offset.Value);
            writer.WriteNumber("timestamp_ms", record.Message.Timestamp.UnixTimestampMs);
            WriteBytes(writer, "key", record.Message.Key);
            WriteBytes(writer, "value", record.Message.Value);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteBytes(Utf8JsonWriter writer, string property, byte[]? bytes)
    {
        if (bytes is null)
        {
            writer.WriteNull(property);
        }
        else
        {
            writer.WriteString(property, Encoding.UTF8.GetString(bytes));
        }
    }
}
