using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>confluent-kafka-python (Debian's python3-confluent-kafka, librdkafka underneath) against a started `levee serve`.</summary>
public sealed class ConfluentPythonTests : IAsyncLifetime
{
    // Debian's python3-confluent-kafka belongs to the system interpreter, not whatever python3 is first on PATH.
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync();

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task ConfluentPython_ProducesThenConsumesInAGroup_AndCommits()
    {
        const string script = """
            import sys
            from confluent_kafka import Producer, Consumer, KafkaException
            from confluent_kafka.admin import AdminClient, NewTopic
            bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
            admin = AdminClient({'bootstrap.servers': bootstrap})
            for f in admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)]).values():
                f.result(timeout=30)
            acked = []
            def on_delivery(err, msg):
                if err is not None:
                    raise KafkaException(err)
                acked.append((msg.partition(), msg.offset()))
            producer = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'enable.idempotence': True})
            for i in range(count):
                producer.produce(topic, key=b'k%d' % i, value=b'v%d' % i, on_delivery=on_delivery)
                producer.poll(0)
            assert producer.flush(30) == 0
            assert len(acked) == count, len(acked)
            consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': group, 'auto.offset.reset': 'earliest',
                                 'enable.auto.commit': False, 'session.timeout.ms': 10000})
            consumer.subscribe([topic])
            seen = {}
            empty = 0
            while len(seen) < count and empty < 60:
                msg = consumer.poll(1.0)
                if msg is None:
                    empty += 1
                    continue
                if msg.error():
                    raise KafkaException(msg.error())
                seen[msg.key()] = msg.value()
            assert len(seen) == count, len(seen)
            assert all(seen[b'k%d' % i] == b'v%d' % i for i in range(count))
            committed = consumer.commit(asynchronous=False)
            assert all(tp.error is None for tp in committed), committed
            assert sum(tp.offset for tp in committed) == count, [(tp.partition, tp.offset) for tp in committed]
            consumer.close()
            print('ok', len(seen), 'committed', len(committed))
            """;
        var result = await Tool.RunAsync(Tool.Python, ["-c", script, _levee.BootstrapServers, "cpy-topic", "cpy-group", "800"]);
        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("ok 800 committed 4", result.StdOut, StringComparison.Ordinal);

        await GroupsCli.AssertLagZeroAsync(_levee.BootstrapServers, "cpy-group", "cpy-topic", partitions: 4, records: 800);
    }
}
