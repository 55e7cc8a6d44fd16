using Levee.Compat.Infrastructure;

namespace Levee.Compat;

public sealed class KafkaPythonTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync();

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task KafkaPython_ProducesAndConsumesATopic()
    {
        const string script = """
            import sys
            from kafka import KafkaProducer, KafkaConsumer, TopicPartition
            bootstrap = sys.argv[1]
            producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all')
            futures = [producer.send('py-topic', key=b'k%d' % i, value=b'v%d' % i) for i in range(500)]
            producer.flush()
            offsets = [f.get(timeout=10).offset for f in futures]
            assert offsets == list(range(500)), offsets[:10]
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10000)
            tp = TopicPartition('py-topic', 0)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            seen = []
            for message in consumer:
                seen.append((message.offset, message.key, message.value))
                if len(seen) == 500:
                    break
            assert seen == [(i, b'k%d' % i, b'v%d' % i) for i in range(500)], seen[:5]
            print('ok', len(seen))
            """;
        var result = await Tool.RunAsync(Tool.Python, ["-c", script, _levee.BootstrapServers]);
        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("ok 500", result.StdOut, StringComparison.Ordinal);
    }
}
