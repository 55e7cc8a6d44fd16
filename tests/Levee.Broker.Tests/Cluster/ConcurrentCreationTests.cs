using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Tests.Cluster;

/// <summary>
/// Issue 17: automatic creation of the offsets topic and of auto-created topics is decided once by the
/// controller, however many requests ask at the same time; the others see the topic, and nothing is logged
/// as failed.
/// </summary>
public sealed class ConcurrentCreationTests
{
    [Fact]
    public async Task ManyRequestsCreatingTheSameTopicsAtOnce_AllSeeThemAndNoDecisionFails()
    {
        var errors = new ConcurrentQueue<string>();
        var dir = Path.Combine(Path.GetTempPath(), "levee-test-" + Guid.NewGuid().ToString("N"));
        var options = new BrokerOptions { DataDir = dir, Port = 0, QuorumPort = 0, OffsetsTopicPartitions = 10, GroupInitialRebalanceDelayMs = 0 };
        var broker = await LeveeBroker.StartAsync(options, logging => logging.AddProvider(new ErrorCollector(errors)));
        try
        {
            // Six clients at once: each auto-creates the same topics (Metadata) and the offsets topic (FindCoordinator).
            var clients = Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
            {
                using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
                using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
                await producer.ProduceAsync("auto-created", new Message<Null, string> { Value = $"from {i}" });
                using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = $"group-{i}" }).Build();
                consumer.Commit([new TopicPartitionOffset("auto-created", 0, 1)]);
                var committed = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions($"group-{i}", [new TopicPartition("auto-created", 0)])]);
                return committed.Single().Partitions.Single().Offset.Value;
            })).ToArray();

            var offsets = await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(120));

            Assert.All(offsets, o => Assert.Equal(1, o));
            Assert.Empty(errors);
        }
        finally
        {
            await broker.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class ErrorCollector(ConcurrentQueue<string> errors) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Collector(categoryName, errors);

        public void Dispose()
        {
        }

        private sealed class Collector(string category, ConcurrentQueue<string> errors) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    errors.Enqueue($"{category}: {formatter(state, exception)} {exception}");
                }
            }
        }
    }
}
