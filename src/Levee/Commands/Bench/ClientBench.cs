using System.Buffers.Binary;
using System.Diagnostics;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using HdrHistogram;
using Spectre.Console;

namespace Levee.Commands.Bench;

/// <summary>
/// The client side of `levee bench`: producers and consumers on Confluent.Kafka, one client instance (one
/// connection) per --producers, each on its own thread. Latencies go into one HdrHistogram per client, merged
/// at the end. Records are sent round-robin over the partitions so that --partitions spreads the load.
/// </summary>
internal static class ClientBench
{
    /// <summary>
    /// e2e ignores records sent in the first two seconds: the consumer's connections, metadata, group
    /// coordinator lookup, offset reset and first fetch take up to about a second on this machine, and
    /// records queued meanwhile would measure start-up, not the steady-state latency the issue asks for.
    /// </summary>
    private static readonly long WarmupTicks = Stopwatch.Frequency * 2;

    public static async Task<BenchResult> RunAsync(BenchSettings settings, CancellationToken cancellation)
    {
        await EnsureTopicAsync(settings).ConfigureAwait(false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(TimeSpan.FromSeconds(settings.TimeoutSeconds));
        var run = new Run(settings, deadline.Token);
        var work = settings.Mode switch
        {
            BenchMode.Produce => run.ProduceAsync(),
            BenchMode.Consume => run.ConsumeAsync(),
            _ => run.EndToEndAsync(),
        };
        await TrackAsync(settings, work, () => run.Done).ConfigureAwait(false);
        return await work.ConfigureAwait(false);
    }

    private static async Task EnsureTopicAsync(BenchSettings settings)
    {
        using var admin = new AdminClientBuilder(ClientProperties.Apply(new AdminClientConfig { BootstrapServers = settings.Bootstrap }, settings.CommandConfig)).Build();
        try
        {
            await admin.CreateTopicsAsync(
                [new TopicSpecification { Name = settings.Topic, NumPartitions = settings.Partitions, ReplicationFactor = 1 }],
                new CreateTopicsOptions { RequestTimeout = TimeSpan.FromMinutes(5), OperationTimeout = TimeSpan.FromMinutes(5) }).ConfigureAwait(false);
        }
        catch (CreateTopicsException ex) when (ex.Results.TrueForAll(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Reusing a topic (consume after produce) is expected.
        }
    }

    private static async Task TrackAsync(BenchSettings settings, Task work, Func<long> done)
    {
        if (!settings.Progress)
        {
            await Task.WhenAny(work).ConfigureAwait(false);
            return;
        }

        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask($"{settings.ModeName} {settings.Records:N0} × {settings.Size} B", maxValue: settings.Records);
                while (!work.IsCompleted)
                {
                    task.Value = done();
                    await Task.WhenAny(work, Task.Delay(200)).ConfigureAwait(false);
                }

                task.Value = done();
            }).ConfigureAwait(false);
    }

    /// <summary>One run: shared counters and the client loops.</summary>
    private sealed class Run(BenchSettings settings, CancellationToken cancellation)
    {
        private readonly TopicPartition[] _partitions = [.. Enumerable.Range(0, settings.Partitions).Select(p => new TopicPartition(settings.Topic, new Partition(p)))];
        private readonly TimeSpan _gcPauseAtStart = GC.GetTotalPauseDuration();
        private readonly List<double> _p99MsBySecond = [];
        private long _done;
        private long _errors;

        public long Done => Interlocked.Read(ref _done);

        public async Task<BenchResult> ProduceAsync()
        {
            var histograms = NewHistograms(settings.Producers);
            var start = Stopwatch.GetTimestamp();
            var completed = await RunThreadsAsync(settings.Producers, i => ProduceLoop(i, histograms[i], recordLatency: true)).ConfigureAwait(false);
            return Result(completed, Stopwatch.GetElapsedTime(start), histograms);
        }

        public async Task<BenchResult> ConsumeAsync()
        {
            var histograms = NewHistograms(settings.Producers);
            var start = Stopwatch.GetTimestamp();
            var completed = await RunThreadsAsync(settings.Producers, i => ConsumeLoop(i, settings.Producers, histograms[i], endToEnd: false)).ConfigureAwait(false);
            return Result(completed, Stopwatch.GetElapsedTime(start), histograms);
        }

        public async Task<BenchResult> EndToEndAsync()
        {
            // One consumer for all partitions; the producers only pace and send (their acks are not the figure).
            var consumerHistogram = BenchResult.NewHistogram();
            var start = Stopwatch.GetTimestamp();
            var consumer = RunThreadsAsync(1, _ => ConsumeLoop(0, 1, consumerHistogram, endToEnd: true));
            var producerHistograms = NewHistograms(settings.Producers);
            var produced = RunThreadsAsync(settings.Producers, i => ProduceLoop(i, producerHistograms[i], recordLatency: false));
            var completed = await consumer.ConfigureAwait(false) & await produced.ConfigureAwait(false);
            return Result(completed, Stopwatch.GetElapsedTime(start), [consumerHistogram]);
        }

        private static LongHistogram[] NewHistograms(int count) => [.. Enumerable.Range(0, count).Select(_ => BenchResult.NewHistogram())];

        private static Task<bool> RunThreadsAsync(int count, Func<int, bool> loop)
        {
            var tasks = Enumerable.Range(0, count)
                .Select(i => Task.Factory.StartNew(() => loop(i), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))
                .ToArray();
            return Task.WhenAll(tasks).ContinueWith(t => t.Result.All(ok => ok), TaskScheduler.Default);
        }

        private BenchResult Result(bool completed, TimeSpan elapsed, LongHistogram[] histograms)
        {
            var merged = BenchResult.NewHistogram();
            foreach (var histogram in histograms)
            {
                merged.Add(histogram);
            }

            return new BenchResult
            {
                Completed = completed && Interlocked.Read(ref _errors) == 0,
                Records = Done,
                Bytes = Done * settings.Size,
                Errors = Interlocked.Read(ref _errors),
                ElapsedSeconds = elapsed.TotalSeconds,
                Latency = merged,
                P99MsBySecond = _p99MsBySecond,
                ClientGcPauseMs = (GC.GetTotalPauseDuration() - _gcPauseAtStart).TotalMilliseconds,
            };
        }

        private ProducerConfig ProducerConfig(int index) => new()
        {
            BootstrapServers = settings.Bootstrap,
            ClientId = $"levee-bench-{index}",
            Acks = settings.KafkaAcks,
            CompressionType = settings.KafkaCompression,
            LingerMs = settings.LingerMs,
            EnableIdempotence = false,
            QueueBufferingMaxMessages = 1_000_000,
            QueueBufferingMaxKbytes = 1024 * 1024,
            MessageTimeoutMs = settings.TimeoutSeconds * 1000,

            // A delivery report is read for its error (and, in produce mode, its arrival time) only: copying the
            // key, value, timestamp and headers back for every record is bench work, not broker work.
            DeliveryReportFields = "none",
        };

        private bool ProduceLoop(int index, LongHistogram histogram, bool recordLatency)
        {
            var count = settings.Records / settings.Producers + (index < settings.Records % settings.Producers ? 1 : 0);
            using var producer = new ProducerBuilder<Null, byte[]>(ClientProperties.Apply(ProducerConfig(index), settings.CommandConfig)).SetLogHandler((_, _) => { }).Build();

            // librdkafka copies the value inside Produce, so one buffer per producer is enough.
            var payload = Payload(settings.Size, index);
            var message = new Message<Null, byte[]> { Value = payload };
            var endToEnd = settings.Mode == BenchMode.EndToEnd;
            var interval = settings.Rate > 0 ? Stopwatch.Frequency * settings.Producers / settings.Rate : 0;

            // Without latency to record (e2e measures it at the consumer) one handler serves every record.
            Action<DeliveryReport<Null, byte[]>>? countErrors = recordLatency ? null : report => OnDelivered(report, 0, histogram, recordLatency: false);
            var start = Stopwatch.GetTimestamp();
            for (long i = 0; i < count; i++)
            {
                if (cancellation.IsCancellationRequested)
                {
                    return false;
                }

                if (interval > 0)
                {
                    Pace(start + (long)(i * interval));
                }

                var sent = Stopwatch.GetTimestamp();
                if (endToEnd)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(payload, sent);
                }

                var partition = _partitions[(int)(((i * settings.Producers) + index) % _partitions.Length)];
                while (true)
                {
                    try
                    {
                        producer.Produce(partition, message, countErrors ?? (report => OnDelivered(report, sent, histogram, recordLatency: true)));
                        break;
                    }
                    catch (ProduceException<Null, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                    {
                        producer.Poll(TimeSpan.FromMilliseconds(1));
                    }
                }
            }

            var remaining = TimeSpan.FromSeconds(settings.TimeoutSeconds);
            return producer.Flush(remaining) == 0;
        }

        private void OnDelivered(DeliveryReport<Null, byte[]> report, long sent, LongHistogram histogram, bool recordLatency)
        {
            if (report.Error.IsError)
            {
                Interlocked.Increment(ref _errors);
                return;
            }

            if (recordLatency)
            {
                var micros = (long)Stopwatch.GetElapsedTime(sent).TotalMicroseconds;

                // Delivery reports are served by the poll thread, but Flush may serve some on the caller's thread.
                lock (histogram)
                {
                    histogram.RecordValue(Math.Min(micros, BenchResult.HighestTrackableMicros));
                }

                Interlocked.Increment(ref _done);
            }
        }

        private bool ConsumeLoop(int index, int consumers, LongHistogram histogram, bool endToEnd)
        {
            var config = new ConsumerConfig
            {
                BootstrapServers = settings.Bootstrap,
                ClientId = $"levee-bench-consumer-{index}",
                GroupId = "levee-bench",
                EnableAutoCommit = false,
                EnableAutoOffsetStore = false,
                AutoOffsetReset = AutoOffsetReset.Earliest,
                FetchWaitMaxMs = endToEnd ? 100 : 500,

                // Only the value is read: no topic name string, timestamp or headers made for every record.
                ConsumeResultFields = "none",
            };

            // librdkafka stops fetching for fetch.queue.backoff.ms (default 1 s) whenever its prefetch queue is full;
            // against a fast broker that pause, not the broker, sets the rate. 10 ms measures the broker (both of them).
            config.Set("fetch.queue.backoff.ms", "10");
            using var consumer = new ConsumerBuilder<Ignore, long>(ClientProperties.Apply(config, settings.CommandConfig))
                .SetValueDeserializer(endToEnd ? SendTime.Instance : NoValue.Instance)
                .SetLogHandler((_, _) => { })
                .Build();
            consumer.Assign(_partitions.Where(p => p.Partition.Value % consumers == index).Select(p => new TopicPartitionOffset(p, Offset.Beginning)));
            var firstSend = long.MaxValue;
            var second = endToEnd ? BenchResult.NewHistogram() : null;
            var secondEnds = long.MaxValue;
            while (Interlocked.Read(ref _done) < settings.Records)
            {
                if (cancellation.IsCancellationRequested)
                {
                    return false;
                }

                var waited = Stopwatch.GetTimestamp();
                var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (result is null || result.IsPartitionEOF)
                {
                    continue;
                }

                long micros;
                if (endToEnd)
                {
                    var sent = result.Message.Value;
                    firstSend = Math.Min(firstSend, sent);
                    if (sent - firstSend < WarmupTicks)
                    {
                        Interlocked.Increment(ref _done);
                        continue;
                    }

                    var now = Stopwatch.GetTimestamp();
                    micros = (long)Stopwatch.GetElapsedTime(sent, now).TotalMicroseconds;
                    if (secondEnds == long.MaxValue)
                    {
                        secondEnds = now + Stopwatch.Frequency;
                    }
                    else if (now >= secondEnds)
                    {
                        _p99MsBySecond.Add(second!.GetValueAtPercentile(99) / 1000.0);
                        second.Reset();
                        secondEnds = now + Stopwatch.Frequency;
                    }

                    second!.RecordValue(Math.Clamp(micros, 0, BenchResult.HighestTrackableMicros));
                }
                else
                {
                    micros = (long)Stopwatch.GetElapsedTime(waited).TotalMicroseconds;
                }

                histogram.RecordValue(Math.Clamp(micros, 0, BenchResult.HighestTrackableMicros));
                Interlocked.Increment(ref _done);
            }

            consumer.Close();
            return true;
        }

        /// <summary>
        /// Waits until <paramref name="due"/> by sleeping, never by spinning: on 2 cores shared with the broker a
        /// spinning pacer takes a core from it. Records that fall due while the thread sleeps go out together
        /// (bursts of about a millisecond), as Kafka's own perf tool paces them (ThroughputThrottler).
        /// </summary>
        private void Pace(long due)
        {
            while (!cancellation.IsCancellationRequested)
            {
                var ahead = due - Stopwatch.GetTimestamp();
                if (ahead <= 0)
                {
                    return;
                }

                Thread.Sleep(TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, ahead * TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
            }
        }

        private static byte[] Payload(int size, int seed)
        {
            // Text-like bytes (16 letters): compressible about as much as typical JSON, so --compression means something.
            var payload = new byte[size];
            var state = (uint)(seed * 2654435761) | 1;
            for (var i = 0; i < payload.Length; i++)
            {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                payload[i] = (byte)('a' + (state & 15));
            }

            return payload;
        }
    }

    /// <summary>Skips copying values out of librdkafka when only the count matters (consume mode).</summary>
    private sealed class NoValue : IDeserializer<long>
    {
        public static readonly NoValue Instance = new();

        public long Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context) => 0;
    }

    /// <summary>
    /// Reads only the send time at the front of an e2e record: copying every 1 KiB value out of librdkafka
    /// would make the bench itself collect garbage often enough to show in the tail it measures.
    /// </summary>
    private sealed class SendTime : IDeserializer<long>
    {
        public static readonly SendTime Instance = new();

        public long Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context) => BinaryPrimitives.ReadInt64LittleEndian(data);
    }
}
