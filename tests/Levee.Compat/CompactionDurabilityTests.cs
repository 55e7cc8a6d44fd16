using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

public sealed class CompactionDurabilityTests
{
    private const int Keys = 500;
    private const int Versions = 40;

    [Fact]
    public async Task KillDashNine_DuringCleaning_LosesNothing_AndCleaningFinishesAfterRestart()
    {
        // A throttled cleaner (about 1 MB/s) gives the kill seconds to land while a .cleaned file is being written.
        await using var levee = await LeveeProcess.StartAsync(null, null, "--set", "log.cleaner.backoff.ms=50", "--set", "log.cleaner.io.max.bytes.per.second=1000000");
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = levee.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = "compacted",
                NumPartitions = 1,
                ReplicationFactor = 1,
                Configs = new() { ["cleanup.policy"] = "compact", ["segment.bytes"] = "262144", ["min.cleanable.dirty.ratio"] = "0.01" },
            }]);
        }

        // Batches of at most 16 KiB, so that segments roll near segment.bytes and the active one stays about 256 KiB
        // (librdkafka's default batch of up to 1 MB made the uncleanable active segment as large as the bound below).
        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = levee.BootstrapServers, LingerMs = 5, BatchSize = 16_384, Acks = Acks.Leader, QueueBufferingMaxMessages = Keys * Versions * 2 }).Build())
        {
            for (var v = 0; v < Versions; v++)
            {
                for (var k = 0; k < Keys; k++)
                {
                    producer.Produce("compacted", new Message<string, string> { Key = $"key-{k}", Value = $"v{v}-" + new string('x', 100) });
                }
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        var partitionDir = Path.Combine(levee.DataDir, "compacted-0");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Directory.EnumerateFiles(partitionDir, "*.cleaned").Any())
        {
            Assert.True(DateTime.UtcNow < deadline, "the cleaner never started writing a .cleaned file\n" + levee.Output);
            await Task.Delay(10);
        }

        await levee.KillAsync();
        await levee.RestartAsync("--set", "log.cleaner.backoff.ms=50");

        // Nothing lost: every key's last version is there, at once and after the cleaning completes.
        Assert.Equal(Expected(), Latest(ReadAll(levee.BootstrapServers)));
        // Cleaned, the log is the 500 latest records plus at most the active segment (256 KiB), from about 2.6 MB.
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (LogBytes(partitionDir) > 512 * 1024 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.True(LogBytes(partitionDir) <= 512 * 1024, $"{LogBytes(partitionDir)} bytes left: the cleaning did not resume\n{levee.Output}");
        Assert.Equal(Expected(), Latest(ReadAll(levee.BootstrapServers)));
        Assert.Empty(Directory.EnumerateFiles(partitionDir, "*.cleaned").Concat(Directory.EnumerateFiles(partitionDir, "*.swap")));
    }

    private static long LogBytes(string directory) =>
        Directory.EnumerateFiles(directory, "*.log").Sum(path => new FileInfo(path).Length);

    private static Dictionary<string, string> Expected() =>
        Enumerable.Range(0, Keys).ToDictionary(k => $"key-{k}", _ => $"v{Versions - 1}");

    private static Dictionary<string, string> Latest(List<(string Key, string Value)> records)
    {
        var latest = new Dictionary<string, string>();
        foreach (var (key, value) in records)
        {
            latest[key] = value[..value.IndexOf('-', StringComparison.Ordinal)];
        }

        return latest;
    }

    private static List<(string Key, string Value)> ReadAll(string bootstrap)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "reader", EnablePartitionEof = true, EnableAutoCommit = false }).Build();
        consumer.Assign(new TopicPartitionOffset("compacted", 0, Offset.Beginning));
        var records = new List<(string, string)>();
        while (true)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(10)) ?? throw new TimeoutException($"no end of the partition after {records.Count} records");
            if (result.IsPartitionEOF)
            {
                return records;
            }

            records.Add((result.Message.Key, result.Message.Value));
        }
    }
}
