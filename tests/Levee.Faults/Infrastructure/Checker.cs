using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;

namespace Levee.Faults.Infrastructure;

/// <summary>One acknowledged record: where the broker said it is and what it holds.</summary>
public sealed record Acknowledged(int Partition, long Offset, long Sequence, string Value, long EnqueuedAt, long AckedAt);

/// <summary>A produce that the client reported as failed.</summary>
public sealed record DeliveryFailure(int Partition, string Value, string Error, long At);

/// <summary>
/// Produces keyed records with acks=all to every partition of a topic, each carrying a sequence number per
/// partition ("p:seq"), and records every acknowledged (partition, offset, value) and every delivery error.
/// It keeps a bounded number of records in flight per partition, so an unavailable partition does not hold
/// back the others, and paces itself so the brokers on a small machine are not saturated.
/// </summary>
public sealed class Checker : IDisposable
{
    private const int MaxInFlightPerPartition = 40;
    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(10);

    private readonly string _topic;
    private readonly int _partitions;
    private readonly IProducer<string, string> _producer;
    private readonly long[] _nextSequence;
    private readonly int[] _inFlight;
    private readonly List<Acknowledged>[] _acks;
    private readonly ConcurrentQueue<DeliveryFailure> _failures = new();
    private readonly ConcurrentQueue<string> _clientErrors = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ClientDebugLog? _debugLog;
    private Task? _loop;

    public Checker(string bootstrapServers, string topic, int partitions, bool idempotent)
    {
        _topic = topic;
        _partitions = partitions;
        _nextSequence = new long[partitions];
        _inFlight = new int[partitions];
        _acks = [.. Enumerable.Range(0, partitions).Select(_ => new List<Acknowledged>())];
        Idempotent = idempotent;
        _debugLog = ClientDebugLog.Open(topic);
        var builder = new ProducerBuilder<string, string>(new ProducerConfig
        {
            // LEVEE_FAULTS_CLIENT_DEBUG=dir: librdkafka's produce and idempotence debug lines, one file per checker.
            Debug = _debugLog is null ? null : "msg,eos,topic,metadata",
            BootstrapServers = bootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = idempotent,
            // Without idempotence a retry could reorder: one request in flight per connection then.
            MaxInFlight = idempotent ? 5 : 1,
            LingerMs = 5,
            // No record may expire while leadership moves: every failure is then a real one.
            MessageTimeoutMs = 120_000,
            RequestTimeoutMs = 15_000,
            RetryBackoffMs = 50,
            RetryBackoffMaxMs = 500,
            SocketTimeoutMs = 10_000,
        })
        .SetErrorHandler((_, e) =>
        {
            if (e.IsFatal)
            {
                _clientErrors.Enqueue("fatal: " + e);
            }
        });
        if (_debugLog is not null)
        {
            builder.SetLogHandler((_, message) => _debugLog.Write(message));
        }

        _producer = builder.Build();
    }

    public bool Idempotent { get; }

    public IReadOnlyCollection<DeliveryFailure> Failures => _failures;

    public IReadOnlyCollection<string> FatalErrors => _clientErrors;

    public static long Now => Stopwatch.GetTimestamp();

    public static TimeSpan Since(long from, long to) => Stopwatch.GetElapsedTime(from, to);

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Acknowledged records of a partition so far, in acknowledgement order.</summary>
    public Acknowledged[] AcksOf(int partition)
    {
        lock (_acks[partition])
        {
            return [.. _acks[partition]];
        }
    }

    public int AckCount(int partition)
    {
        lock (_acks[partition])
        {
            return _acks[partition].Count;
        }
    }

    public int TotalAcks => Enumerable.Range(0, _partitions).Sum(AckCount);

    /// <summary>The first acknowledgement of a record produced at or after <paramref name="since"/> on a partition.</summary>
    public Acknowledged? FirstAckProducedAfter(int partition, long since)
    {
        lock (_acks[partition])
        {
            Acknowledged? first = null;
            foreach (var ack in _acks[partition])
            {
                if (ack.EnqueuedAt >= since && (first is null || ack.AckedAt < first.AckedAt))
                {
                    first = ack;
                }
            }

            return first;
        }
    }

    /// <summary>The longest time between two consecutive acknowledgements of one partition within a window, where it started and on which partition.</summary>
    public (TimeSpan Gap, TimeSpan StartedAfter, int Partition) LongestAckGap(long from, long to)
    {
        (TimeSpan Gap, TimeSpan StartedAfter, int Partition) longest = (TimeSpan.Zero, TimeSpan.Zero, -1);
        for (var p = 0; p < _partitions; p++)
        {
            var times = AcksOf(p).Select(a => a.AckedAt).Where(t => t >= from && t <= to).Order().Prepend(from).Append(to).ToList();
            for (var i = 1; i < times.Count; i++)
            {
                var gap = Since(times[i - 1], times[i]);
                if (gap > longest.Gap)
                {
                    longest = (gap, Since(from, times[i - 1]), p);
                }
            }
        }

        return longest;
    }

    /// <summary>Waits until every partition has at least <paramref name="count"/> more acknowledgements than now.</summary>
    public Task WaitForProgressAsync(int count, TimeSpan timeout)
    {
        var since = Now;
        return Wait.UntilAsync(
            $"{count} acknowledged records on every partition",
            timeout,
            () => Enumerable.Range(0, _partitions).All(p => CountProducedAfter(p, since) >= count),
            () => string.Join(' ', Enumerable.Range(0, _partitions).Select(p => $"p{p}:{CountProducedAfter(p, since)}")) + Describe());
    }

    /// <summary>Stops producing and waits for every record in flight to be acknowledged or failed.</summary>
    public async Task StopAsync()
    {
        await StopProducingAsync();
        var remaining = await Task.Run(() => _producer.Flush(TimeSpan.FromSeconds(150)));
        if (remaining > 0)
        {
            throw new InvalidOperationException($"{remaining} records still in flight after the flush.");
        }
    }

    /// <summary>Stops producing without waiting for the records in flight (e.g. the topic is being deleted under them); <see cref="Dispose"/> then drops them.</summary>
    public async Task StopProducingAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }
    }

    public string Describe() =>
        $" (acks {TotalAcks}, failures {_failures.Count}, fatal {_clientErrors.Count}; first failure: {_failures.FirstOrDefault()?.Error ?? "none"})";

    public void Dispose()
    {
        _stop.Cancel();
        _producer.Dispose();
        _stop.Dispose();
        _debugLog?.Dispose();
    }

    private int CountProducedAfter(int partition, long since)
    {
        lock (_acks[partition])
        {
            var n = 0;
            for (var i = _acks[partition].Count - 1; i >= 0 && n < int.MaxValue; i--)
            {
                if (_acks[partition][i].EnqueuedAt >= since)
                {
                    n++;
                }
            }

            return n;
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            for (var p = 0; p < _partitions; p++)
            {
                if (Volatile.Read(ref _inFlight[p]) >= MaxInFlightPerPartition)
                {
                    continue;
                }

                ProduceOne(p);
            }

            try
            {
                // Pacing of the load, not synchronisation.
                await Task.Delay(Pace, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private void ProduceOne(int partition)
    {
        var sequence = _nextSequence[partition]++;
        var value = string.Create(CultureInfo.InvariantCulture, $"{partition}:{sequence}");
        var enqueuedAt = Now;
        Interlocked.Increment(ref _inFlight[partition]);
        try
        {
            _producer.Produce(
                new TopicPartition(_topic, partition),
                new Message<string, string> { Key = "key-" + partition.ToString(CultureInfo.InvariantCulture), Value = value },
                report =>
                {
                    Interlocked.Decrement(ref _inFlight[partition]);
                    if (!report.Error.IsError && report.Status == PersistenceStatus.Persisted)
                    {
                        lock (_acks[partition])
                        {
                            _acks[partition].Add(new Acknowledged(partition, report.Offset.Value, sequence, value, enqueuedAt, Now));
                        }
                    }
                    else
                    {
                        _failures.Enqueue(new DeliveryFailure(partition, value, $"{report.Error.Code}: {report.Error.Reason} ({report.Status})", Now));
                    }
                });
        }
        catch (ProduceException<string, string> ex)
        {
            Interlocked.Decrement(ref _inFlight[partition]);
            _failures.Enqueue(new DeliveryFailure(partition, value, "local: " + ex.Error, Now));
        }
    }
}
