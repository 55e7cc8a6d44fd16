using System.Diagnostics;
using Confluent.Kafka;

namespace Levee.Broker.Tests.Quotas;

/// <summary>A real client as fast as it can go, for the rate quota tests: what it gets in a given time.</summary>
internal static class FlatOut
{
    /// <summary>
    /// Produces 1000-byte records to <paramref name="topic"/> as fast as the producer's queue takes them: first for
    /// <paramref name="warmUp"/>, whose acknowledgements are not counted (a new client may send the quota's worth of
    /// the whole measured span at once, as in Kafka), then for <paramref name="length"/>; returns the bytes of record
    /// values acknowledged in that second part, and the deliveries that failed.
    /// </summary>
    public static (long AcknowledgedBytes, long Failed) Produce(ProducerConfig config, string topic, TimeSpan warmUp, TimeSpan length)
    {
        var end = warmUp + length;
        var value = new byte[1000];
        long acknowledged = 0;
        long failed = 0;
        var clock = Stopwatch.StartNew();
        using (var producer = new ProducerBuilder<Null, byte[]>(config).Build())
        {
            while (clock.Elapsed < end)
            {
                try
                {
                    producer.Produce(topic, new Message<Null, byte[]> { Value = value }, report =>
                    {
                        if (report.Error.IsError)
                        {
                            Interlocked.Increment(ref failed);
                        }
                        else if (clock.Elapsed >= warmUp && clock.Elapsed < end)
                        {
                            Interlocked.Add(ref acknowledged, value.Length);
                        }
                    });
                }
                catch (ProduceException<Null, byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(50));
                }
            }

            producer.Flush(TimeSpan.FromSeconds(30));
        }

        return (Interlocked.Read(ref acknowledged), Interlocked.Read(ref failed));
    }

    /// <summary>
    /// Consumes partition 0 of <paramref name="topic"/> from the beginning: first for <paramref name="warmUp"/>, not
    /// counted (a new consumer's first fetches may take the quota's worth of the whole measured span at once, as in
    /// Kafka), then for <paramref name="length"/>; returns the bytes of record values consumed in that second part.
    /// </summary>
    public static long Consume(ConsumerConfig config, string topic, TimeSpan warmUp, TimeSpan length)
    {
        using var consumer = new ConsumerBuilder<Ignore, byte[]>(config).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var warming = Stopwatch.StartNew();
        while (warming.Elapsed < warmUp)
        {
            consumer.Consume(TimeSpan.FromMilliseconds(100));
        }

        long consumed = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < length)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { } result && clock.Elapsed < length)
            {
                consumed += result.Message.Value.Length;
            }
        }

        return consumed;
    }
}
