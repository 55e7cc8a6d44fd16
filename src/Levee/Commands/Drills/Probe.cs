using System.Diagnostics;
using Confluent.Kafka;

namespace Levee.Commands.Drills;

/// <summary>What the probe saw: records sent, acknowledged and failed, and acknowledgement latency percentiles.</summary>
internal sealed record ProbeResult(long Sent, long Acknowledged, long Errors, long Consumed, double P50Ms, double P99Ms, double MaxMs);

/// <summary>
/// A drill's probe: an idempotent acks=all producer sending one small record every 20 ms, round the partitions, and
/// a consumer reading them; it counts what was acknowledged and what failed (a delivery the producer gave up on), and
/// times each acknowledgement.
/// </summary>
internal sealed class Probe : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);
    private readonly IProducer<Null, byte[]> _producer;
    private readonly IConsumer<Ignore, byte[]> _consumer;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<double> _latenciesMs = [];
    private readonly Task _sending;
    private readonly Task _consuming;
    private long _sent;
    private long _acknowledged;
    private long _errors;
    private long _consumed;

    private Probe(string bootstrap, string topic)
    {
        _producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 0,
            MessageTimeoutMs = 60_000,
        }).SetLogHandler((_, _) => { }).Build();
        _consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "levee-drill-" + Guid.NewGuid().ToString("N")[..8],
            AutoOffsetReset = AutoOffsetReset.Latest,
            EnableAutoCommit = false,
        }).SetLogHandler((_, _) => { }).Build();
        _consumer.Subscribe(topic);
        _sending = Task.Run(() => SendAsync(topic));
        _consuming = Task.Factory.StartNew(Consume, TaskCreationOptions.LongRunning);
    }

    public static Probe Start(string bootstrap, string topic) => new(bootstrap, topic);

    /// <summary>The counts so far.</summary>
    public ProbeResult Snapshot()
    {
        double[] latencies;
        lock (_latenciesMs)
        {
            latencies = [.. _latenciesMs];
        }

        Array.Sort(latencies);
        return new ProbeResult(
            Interlocked.Read(ref _sent),
            Interlocked.Read(ref _acknowledged),
            Interlocked.Read(ref _errors),
            Interlocked.Read(ref _consumed),
            Percentile(latencies, 0.50),
            Percentile(latencies, 0.99),
            latencies.Length == 0 ? 0 : latencies[^1]);
    }

    /// <summary>Stops sending, waits for what is in flight (up to the producer's timeout) and returns the counts.</summary>
    public ProbeResult Stop()
    {
        _stop.Cancel();
        _sending.Wait();
        _producer.Flush(TimeSpan.FromSeconds(65));
        _consuming.Wait();
        return Snapshot();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _producer.Dispose();
        _consumer.Close();
        _consumer.Dispose();
        _stop.Dispose();
    }

    private async Task SendAsync(string topic)
    {
        var value = new byte[100];
        while (!_stop.IsCancellationRequested)
        {
            var sent = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref _sent);
            _producer.Produce(topic, new Message<Null, byte[]> { Value = value }, report =>
            {
                if (report.Error.IsError)
                {
                    Interlocked.Increment(ref _errors);
                    return;
                }

                Interlocked.Increment(ref _acknowledged);
                lock (_latenciesMs)
                {
                    _latenciesMs.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
                }
            });
            try
            {
                await Task.Delay(Interval, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Consume()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                if (_consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null })
                {
                    Interlocked.Increment(ref _consumed);
                }
            }
            catch (ConsumeException)
            {
                // A partition whose leader is moving: the consumer retries on its own.
            }
        }
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
}
