using System.Collections.Concurrent;
using Confluent.Kafka;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

public sealed class DurabilityTests
{
    [Fact]
    public async Task KillDashNine_DuringAcksOneProduceStream_LosesNoAcknowledgedRecord()
    {
        await using var levee = await LeveeProcess.StartAsync();
        var acknowledged = new ConcurrentDictionary<long, string>();
        var enoughAcks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = levee.BootstrapServers,
            Acks = Acks.Leader,
            LingerMs = 1,
            MessageTimeoutMs = 5000,
            EnableIdempotence = false,
        }).Build())
        {
            using var stop = new CancellationTokenSource();
            var produced = 0;
            var stream = Task.Run(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var value = "record-" + produced++;
                    try
                    {
                        producer.Produce("durable", new Message<Null, string> { Value = value }, report =>
                        {
                            if (!report.Error.IsError && report.Status == PersistenceStatus.Persisted)
                            {
                                acknowledged[report.Offset.Value] = value;
                                if (acknowledged.Count >= 20_000)
                                {
                                    enoughAcks.TrySetResult();
                                }
                            }
                        });
                    }
                    catch (ProduceException<Null, string>)
                    {
                        producer.Poll(TimeSpan.FromMilliseconds(10));
                    }
                }
            });

            await enoughAcks.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await levee.KillAsync();
            await stop.CancelAsync();
            await stream;
            producer.Flush(TimeSpan.FromSeconds(10));
        }

        var snapshot = acknowledged.ToDictionary();
        await levee.RestartAsync();

        using var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = levee.BootstrapServers, GroupId = "levee-tests", EnableAutoCommit = false }).Build();
        var high = consumer.QueryWatermarkOffsets(new TopicPartition("durable", 0), TimeSpan.FromSeconds(10)).High.Value;
        Assert.True(high >= snapshot.Keys.Max() + 1, $"log end {high} is below the last acknowledged offset {snapshot.Keys.Max()}");

        consumer.Assign(new TopicPartitionOffset("durable", 0, Offset.Beginning));
        var read = new Dictionary<long, string>();
        while (read.Count < high)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(10));
            Assert.True(result is not null, $"log unreadable after offset {read.Count} of {high}");
            Assert.Equal(read.Count, result.Offset.Value);
            read[result.Offset.Value] = result.Message.Value;
        }

        foreach (var (offset, value) in snapshot)
        {
            Assert.Equal(value, read[offset]);
        }
    }

    [Fact]
    public async Task Sigterm_StopsCleanly_AndDataSurvivesRestart()
    {
        await using var levee = await LeveeProcess.StartAsync();
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = levee.BootstrapServers, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < 100; i++)
            {
                await producer.ProduceAsync("graceful", new Message<Null, string> { Value = "g" + i });
            }
        }

        Assert.Equal(0, await levee.TerminateAsync());
        Assert.Contains("stopped cleanly", levee.Output, StringComparison.Ordinal);

        await levee.RestartAsync();
        using var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = levee.BootstrapServers, GroupId = "levee-tests" }).Build();
        var watermarks = consumer.QueryWatermarkOffsets(new TopicPartition("graceful", 0), TimeSpan.FromSeconds(10));
        Assert.Equal(100, watermarks.High.Value);
        consumer.Assign(new TopicPartitionOffset("graceful", 0, 99));
        Assert.Equal("g99", consumer.Consume(TimeSpan.FromSeconds(10)).Message.Value);
    }
}
