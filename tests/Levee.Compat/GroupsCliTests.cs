using Confluent.Kafka;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// `levee groups` against a started `levee serve`, with groups of third-party clients: a kafka-python consumer group's
/// lag, and reset-offsets / delete on a group of Confluent.Kafka consumers.
/// </summary>
public sealed class GroupsCliTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync();

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task KafkaPython_ConsumerGroupReadsKcatRecords_AndDescribeShowsLagZero()
    {
        var input = string.Concat(Enumerable.Range(0, 300).Select(i => $"k{i}:v{i}\n"));
        var produce = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-P", "-t", "kp-topic", "-K:"], stdin: input);
        Assert.True(produce.ExitCode == 0, produce.StdErr);

        const string script = """
            import sys
            from kafka import KafkaConsumer
            bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
            consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset='earliest',
                                     enable_auto_commit=False, consumer_timeout_ms=30000)
            seen = {}
            for message in consumer:
                seen[message.key] = message.value
                if len(seen) == count:
                    break
            assert len(seen) == count, len(seen)
            assert all(seen[b'k%d' % i] == b'v%d' % i for i in range(count))
            consumer.commit()
            committed = {tp: consumer.committed(tp) for tp in consumer.assignment()}
            assert sum(committed.values()) == count, committed
            consumer.close()
            print('ok', len(seen))
            """;
        var result = await Tool.RunAsync(Tool.Python, ["-c", script, _levee.BootstrapServers, "kp-topic", "kp-group", "300"]);
        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("ok 300", result.StdOut, StringComparison.Ordinal);

        await GroupsCli.AssertLagZeroAsync(_levee.BootstrapServers, "kp-group", "kp-topic", partitions: 1, records: 300);
        var list = await GroupsCli.RunAsync(_levee.BootstrapServers, "list");
        Assert.True(list.ExitCode == 0, list.StdErr);
        Assert.Contains("kp-group", list.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResetOffsets_ToEarliest_OnAnEmptyGroup_MakesAConsumerRereadFromZero_ThenDeleteRemovesTheGroup()
    {
        const string topic = "reset-topic";
        const string group = "reset-group";
        const int records = 120;
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _levee.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new Confluent.Kafka.Admin.TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 1 }]);
        }

        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = _levee.BootstrapServers, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < records; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = $"k{i}", Value = $"v{i}" });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        // A group reads everything and commits; while it is a member, reset-offsets is refused.
        using (var consumer = Consumer(group))
        {
            consumer.Subscribe(topic);
            Assert.Equal(records, ConsumeAll(consumer, records).Count);
            consumer.Commit();

            var refused = await GroupsCli.RunAsync(_levee.BootstrapServers, "reset-offsets", group, "--topic", topic, "--to-earliest");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("inactive", refused.StdErr, StringComparison.Ordinal);
            consumer.Close();
        }

        await GroupsCli.AssertLagZeroAsync(_levee.BootstrapServers, group, topic, partitions: 2, records);

        // --dry-run prints the plan and commits nothing.
        var dry = await GroupsCli.RunAsync(_levee.BootstrapServers, "reset-offsets", group, "--topic", topic, "--to-earliest", "--dry-run");
        Assert.True(dry.ExitCode == 0, dry.StdErr + dry.StdOut);
        Assert.Contains("dry run", dry.StdOut, StringComparison.Ordinal);
        await GroupsCli.AssertLagZeroAsync(_levee.BootstrapServers, group, topic, partitions: 2, records);

        var reset = await GroupsCli.RunAsync(_levee.BootstrapServers, "reset-offsets", group, "--topic", topic, "--to-earliest");
        Assert.True(reset.ExitCode == 0, reset.StdErr + reset.StdOut);
        var (_, rows) = await GroupsCli.DescribeAsync(_levee.BootstrapServers, group);
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal(0, r.Current));
        Assert.Equal(records, rows.Sum(r => r.Lag ?? 0));

        // The group's next consumer starts from offset 0 on every partition (auto.offset.reset=latest would skip them
        // all if there were no committed offsets).
        using (var consumer = Consumer(group, AutoOffsetReset.Latest))
        {
            consumer.Subscribe(topic);
            var again = ConsumeAll(consumer, records);
            Assert.Equal(records, again.Count);
            Assert.All(again.GroupBy(r => r.Partition.Value), p => Assert.Equal(0, p.Min(r => r.Offset.Value)));
            consumer.Close();
        }

        // --to-offset is clamped to the log, per partition.
        var toOffset = await GroupsCli.RunAsync(_levee.BootstrapServers, "reset-offsets", group, "--topic", topic + ":1", "--to-offset", "5");
        Assert.True(toOffset.ExitCode == 0, toOffset.StdErr + toOffset.StdOut);
        (_, rows) = await GroupsCli.DescribeAsync(_levee.BootstrapServers, group);
        Assert.Equal(5, rows.Single(r => r.Partition == 1).Current);

        // --to-datetime: before every record is the log start; after every record is the log end.
        var past = await GroupsCli.RunAsync(_levee.BootstrapServers, "reset-offsets", group, "--topic", topic, "--to-datetime", "2000-01-01T00:00:00", "--dry-run");
        Assert.True(past.ExitCode == 0, past.StdErr + past.StdOut);
        Assert.Equal([0L, 0L], PlannedOffsets(past.StdOut));
        var future = await GroupsCli.RunAsync(_levee.BootstrapServers, "reset-offsets", group, "--topic", topic, "--to-datetime", "2999-01-01T00:00:00Z", "--dry-run");
        Assert.True(future.ExitCode == 0, future.StdErr + future.StdOut);
        Assert.Equal(rows.OrderBy(r => r.Partition).Select(r => r.LogEnd ?? -1), PlannedOffsets(future.StdOut));

        var delete = await GroupsCli.RunAsync(_levee.BootstrapServers, "delete", group);
        Assert.True(delete.ExitCode == 0, delete.StdErr + delete.StdOut);
        var list = await GroupsCli.RunAsync(_levee.BootstrapServers, "list");
        Assert.True(list.ExitCode == 0, list.StdErr);
        Assert.DoesNotContain(group, list.StdOut, StringComparison.Ordinal);
        var gone = await GroupsCli.RunAsync(_levee.BootstrapServers, "describe", group);
        Assert.NotEqual(0, gone.ExitCode);
        Assert.Contains("does not exist", gone.StdErr, StringComparison.Ordinal);
    }

    private IConsumer<string, string> Consumer(string group, AutoOffsetReset reset = AutoOffsetReset.Earliest) =>
        new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = _levee.BootstrapServers,
            GroupId = group,
            AutoOffsetReset = reset,
            EnableAutoCommit = false,
            SessionTimeoutMs = 10000,
        }).Build();

    /// <summary>NEW-OFFSET of each row of a reset plan (GROUP, TOPIC, PARTITION, CURRENT-OFFSET, NEW-OFFSET), in partition order.</summary>
    private static List<long> PlannedOffsets(string output) =>
    [
        .. output.Split('\n')
            .Select(line => line.Split('│', StringSplitOptions.TrimEntries))
            .Where(cells => cells.Length == 7 && int.TryParse(cells[3], System.Globalization.CultureInfo.InvariantCulture, out _))
            .OrderBy(cells => int.Parse(cells[3], System.Globalization.CultureInfo.InvariantCulture))
            .Select(cells => long.Parse(cells[5], System.Globalization.CultureInfo.InvariantCulture)),
    ];

    private static List<TopicPartitionOffset> ConsumeAll(IConsumer<string, string> consumer, int count)
    {
        var seen = new List<TopicPartitionOffset>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (seen.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { } record)
            {
                seen.Add(record.TopicPartitionOffset);
            }
        }

        return seen;
    }
}
