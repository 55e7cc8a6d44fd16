using System.Diagnostics;
using Confluent.Kafka;
using Levee.Faults.Infrastructure;
using Xunit.Abstractions;

namespace Levee.Faults;

/// <summary>
/// Issue 12's self-healing: a broker down longer than broker.failure.self.healing.threshold.ms has its replicas
/// re-created on a survivor, copied from the leaders no faster than leader.replication.throttled.rate, with no
/// acknowledged record lost.
/// </summary>
public sealed class HealingTests(ITestOutputHelper output)
{
    private const int Rate = 1 << 20;
    private const int ValueBytes = 64 * 1024;
    private const int Partitions = 4;

    [Fact]
    public async Task ADeadBrokersReplicas_AreReCreatedOnASurvivor_AtTheThrottledRate_LosingNothing()
    {
        var settings = new Dictionary<string, string>(ClusterTimeouts.Short.Settings)
        {
            ["broker.failure.self.healing.threshold.ms"] = "3000",
            ["leader.replication.throttled.rate"] = Rate.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        await using var cluster = await LeveeCluster.StartAsync(4, new ClusterTimeouts("healing", settings));
        cluster.Name = "healing";
        await cluster.CreateTopicAsync("heal", Partitions, 3, 2);
        await cluster.WaitForFullIsrAsync("heal", Partitions, TimeSpan.FromSeconds(60));

        // 4 MiB per partition, acknowledged by all in-sync replicas.
        var perPartition = new long[Partitions];
        var value = new byte[ValueBytes];
        using (var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, Acks = Acks.All, EnableIdempotence = true, LingerMs = 5 }).Build())
        {
            for (var i = 0; i < 4 * 16 * Partitions; i++)
            {
                var report = await producer.ProduceAsync(new TopicPartition("heal", i % Partitions), new Message<Null, byte[]> { Value = value });
                perPartition[report.Partition.Value]++;
            }
        }

        var before = (await cluster.DescribeAsync("heal"))!;
        var victim = before.SelectMany(p => p.Replicas).GroupBy(r => r).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        var moved = before.Where(p => p.Replicas.Contains(victim)).ToList();
        await cluster.Node(victim).KillAsync();
        output.WriteLine($"killed broker {victim}, which held replicas of {moved.Count} partitions");

        // Healing starts once the broker has been down for the threshold; it ends when every partition is back at
        // three in-sync replicas, none of them the dead broker.
        IReadOnlyList<PartitionState>? states = null;
        await Wait.UntilAsync("the first re-created replica", TimeSpan.FromSeconds(60), async () => (states = await cluster.DescribeAsync("heal")) is { } s && s.Any(p => !p.Replicas.Contains(victim) && moved.Any(m => m.Partition == p.Partition)));
        var started = Stopwatch.StartNew();
        await Wait.UntilAsync(
            "every partition healed",
            TimeSpan.FromSeconds(120),
            async () => (states = await cluster.DescribeAsync("heal")) is { } s && s.All(p => p.Replicas.Length == 3 && !p.Replicas.Contains(victim) && p.Isr.Length == 3),
            () => states is null ? "no metadata" : string.Join("; ", states.Select(p => $"p{p.Partition} replicas [{string.Join(',', p.Replicas)}] isr [{string.Join(',', p.Isr)}]")));
        var took = started.Elapsed;

        // Each leader sent its share at most at the rate (after its bucket's first second's worth): the slowest
        // leader's bytes bound the time from below. Unthrottled, loopback copies these megabytes in well under a second.
        var bytesBySource = moved.GroupBy(p => states!.Single(s => s.Partition == p.Partition).Leader)
            .Select(g => g.Sum(p => perPartition[p.Partition] * ValueBytes)).ToList();
        var floor = TimeSpan.FromSeconds(Math.Max(0, (bytesBySource.Max() - Rate) / (double)Rate) * 0.8);
        output.WriteLine($"healed {moved.Count} replicas ({bytesBySource.Sum() / (1 << 20)} MiB from {bytesBySource.Count} leaders) in {took.TotalSeconds:F1} s; throttle floor {floor.TotalSeconds:F1} s");
        Assert.True(took >= floor, $"healing took {took.TotalSeconds:F1} s, faster than the throttle allows ({floor.TotalSeconds:F1} s)");

        // Nothing acknowledged was lost: every record is read back.
        long read = 0;
        using (var consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "heal-check", AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false }).Build())
        {
            consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset("heal", p, Offset.Beginning)));
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (read < perPartition.Sum() && DateTime.UtcNow < deadline)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { Message: not null })
                {
                    read++;
                }
            }
        }

        Assert.Equal(perPartition.Sum(), read);
    }
}
