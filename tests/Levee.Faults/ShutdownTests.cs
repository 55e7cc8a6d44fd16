using System.Globalization;
using System.Security.Cryptography;
using Confluent.Kafka;
using Levee.Faults.Infrastructure;
using Xunit.Abstractions;

namespace Levee.Faults;

/// <summary>
/// Issue 17: `levee cluster down` (SIGTERM to every broker at once) while the followers are busy replicating,
/// just after a topic they replicated was deleted, must stop every broker cleanly, every time.
/// </summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    /// <summary>Written throughout, through the SIGTERM.</summary>
    private const string Topic = "heavy";

    /// <summary>Written as heavily, then deleted under its producer just before the SIGTERM (as issue 17's clients deleted topics they wrote).</summary>
    private const string DeletedTopic = "heavy-deleted";

    private const int Partitions = 6;

    /// <summary>Acknowledged (acks=all, RF=3) to each topic before the deletion and the SIGTERM.</summary>
    private const long HeavyBytes = 4L * 1024 * 1024;

    /// <summary>What `levee cluster down` waits for each broker before it kills it (its --timeout-s default).</summary>
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(60);

    /// <summary>LEVEE_SHUTDOWN_ROUNDS, else 5 in CI, else issue 17's 20.</summary>
    private static readonly int Rounds = RunLength.From("LEVEE_SHUTDOWN_ROUNDS", inCi: 5, full: 20);

    [Fact]
    public async Task ClusterDown_AfterHeavyReplication_EveryBrokerStopsCleanly()
    {
        var unclean = new List<string>();
        for (var round = 1; round <= Rounds; round++)
        {
            unclean.AddRange(await RoundAsync(round));
        }

        FaultRun.Note(output, $"cluster down after heavy replication: {Rounds} rounds, {unclean.Count} brokers did not stop cleanly");
        Assert.True(unclean.Count == 0, $"{unclean.Count} broker stops of {Rounds} rounds x 3 were not clean:{Environment.NewLine}{string.Join(Environment.NewLine, unclean)}");
    }

    /// <summary>
    /// A fresh 3-broker cluster, heavy acks=all writes to two topics, one of them deleted while written, then
    /// SIGTERM to all brokers at once while the other is still written; returns what was not clean.
    /// </summary>
    private async Task<List<string>> RoundAsync(int round)
    {
        await using var cluster = await LeveeCluster.StartAsync(3, ClusterTimeouts.Short);
        cluster.Name = string.Create(CultureInfo.InvariantCulture, $"shutdown-{round}");
        foreach (var topic in new[] { Topic, DeletedTopic })
        {
            await cluster.CreateTopicAsync(topic, Partitions, FaultRun.ReplicationFactor, FaultRun.MinInsyncReplicas);
            await cluster.WaitForFullIsrAsync(topic, Partitions, TimeSpan.FromSeconds(60));
        }

        (LeveeNode Node, int? Exit, TimeSpan Took)[] stops;
        long ackedAtSigterm;
        await using (var load = new HeavyLoad(cluster.BootstrapServers, Topic))
        {
            await using (var doomed = new HeavyLoad(cluster.BootstrapServers, DeletedTopic))
            {
                await Wait.UntilAsync($"round {round}: {HeavyBytes} bytes acknowledged to each topic", TimeSpan.FromSeconds(60), () => load.AckedBytes >= HeavyBytes && doomed.AckedBytes >= HeavyBytes, () => $"{Topic}: {load.Describe()}; {DeletedTopic}: {doomed.Describe()}");
                await cluster.DeleteTopicAsync(DeletedTopic, TimeSpan.FromSeconds(60));
            }

            // What `levee cluster down` does: SIGTERM to every broker at once, here while the producer still writes.
            ackedAtSigterm = load.AckedBytes;
            var sigterm = Checker.Now;
            stops = await Task.WhenAll(cluster.Nodes.Select(async node =>
            {
                try
                {
                    var exit = await node.TerminateAsync(StopBound);
                    return (node, (int?)exit, Checker.Since(sigterm, Checker.Now));
                }
                catch (OperationCanceledException)
                {
                    return (node, null, Checker.Since(sigterm, Checker.Now));
                }
            }));
        }

        var unclean = new List<string>();
        foreach (var (node, exit, took) in stops)
        {
            var problems = new List<string>();
            if (exit is null)
            {
                problems.Add($"still running {StopBound.TotalSeconds:0} s after SIGTERM");
            }
            else if (exit != 0)
            {
                problems.Add($"exit code {exit}");
            }

            if (!node.Log.Contains(string.Create(CultureInfo.InvariantCulture, $"Levee broker {node.NodeId} stopped cleanly"), StringComparison.Ordinal))
            {
                problems.Add("no \"stopped cleanly\" line");
            }

            problems.AddRange(node.ProblemLines().Take(5).Select(line => "logged: " + line));
            if (problems.Count > 0)
            {
                var tail = string.Join(Environment.NewLine, node.Log.Split('\n').TakeLast(25).Select(line => "    " + line.TrimEnd('\r')));
                unclean.Add($"round {round}, broker {node.NodeId}: {string.Join("; ", problems)}{Environment.NewLine}{tail}");
            }
        }

        FaultRun.Note(output, $"round {round}: {DeletedTopic} deleted under its producer, then SIGTERM to all 3 brokers after {ackedAtSigterm / (1024.0 * 1024):0.0} MB acknowledged to {Topic}; "
            + string.Join(", ", stops.Select(s => $"broker {s.Node.NodeId} exit {s.Exit?.ToString(CultureInfo.InvariantCulture) ?? "none"} in {s.Took.TotalMilliseconds:0} ms"))
            + (unclean.Count == 0 ? "; all clean" : $"; {unclean.Count} not clean"));
        return unclean;
    }

    /// <summary>
    /// An idempotent acks=all producer writing incompressible 4 KiB values round-robin to every partition of a
    /// topic, as fast as the cluster acknowledges them (a bounded number in flight), until disposed.
    /// </summary>
    private sealed class HeavyLoad : IAsyncDisposable
    {
        private const int ValueBytes = 4096;
        private const int MaxInFlight = 512;
        private readonly string _topic;
        private readonly IProducer<Null, byte[]> _producer;
        private readonly SemaphoreSlim _slots = new(MaxInFlight);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private long _ackedBytes;
        private long _failures;

        public HeavyLoad(string bootstrapServers, string topic)
        {
            _topic = topic;
            _producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig
            {
                BootstrapServers = bootstrapServers,
                Acks = Acks.All,
                EnableIdempotence = true,
                LingerMs = 5,
                MessageTimeoutMs = 30_000,
            }).Build();
            _loop = Task.Run(() => RunAsync(_stop.Token));
        }

        public long AckedBytes => Interlocked.Read(ref _ackedBytes);

        public string Describe() => $"{AckedBytes} bytes acknowledged, {Interlocked.Read(ref _failures)} failures";

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            await Task.Run(_producer.Dispose);
            _slots.Dispose();
            _stop.Dispose();
        }

        private async Task RunAsync(CancellationToken cancellationToken)
        {
            var value = RandomNumberGenerator.GetBytes(ValueBytes);
            for (var i = 0; ; i++)
            {
                try
                {
                    await _slots.WaitAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                try
                {
                    _producer.Produce(new TopicPartition(_topic, i % Partitions), new Message<Null, byte[]> { Value = value }, report =>
                    {
                        if (report.Error.IsError)
                        {
                            Interlocked.Increment(ref _failures);
                        }
                        else
                        {
                            Interlocked.Add(ref _ackedBytes, ValueBytes);
                        }

                        _slots.Release();
                    });
                }
                catch (ProduceException<Null, byte[]>)
                {
                    Interlocked.Increment(ref _failures);
                    _slots.Release();
                }
            }
        }
    }
}
