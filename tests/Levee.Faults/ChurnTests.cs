using System.Collections.Concurrent;
using System.Globalization;
using Confluent.Kafka;
using Levee.Faults.Infrastructure;
using Xunit.Abstractions;

namespace Levee.Faults;

/// <summary>
/// Issue 17's churn: topics deleted and recreated with the same names while producers (acks=all) and consumer
/// groups use them and one broker is starved of CPU; afterwards the cluster must heal on its own.
/// </summary>
public sealed class ChurnTests(ITestOutputHelper output)
{
    /// <summary>Churned topic names: each is deleted and created again, over and over.</summary>
    private static readonly string[] ChurnedTopics = ["churn-a", "churn-b", "churn-c", "churn-d"];

    /// <summary>Churn loops running at once, each over its share of <see cref="ChurnedTopics"/>.</summary>
    private const int ChurnLoops = 2;

    private const int ChurnedPartitions = 6;

    /// <summary>Acknowledged records per partition of each generation before a group reads it (its producer goes on until the topic is deleted).</summary>
    private const int RecordsPerPartition = 30;

    /// <summary>Busy loops pinned to the starved broker's core.</summary>
    private const int HogLoops = 2;

    private static readonly TimeSpan StepDeadline = TimeSpan.FromSeconds(60);

    /// <summary>Issue 17: once the churn stops, every partition is back at full ISR within this.</summary>
    private static readonly TimeSpan HealDeadline = TimeSpan.FromSeconds(30);

    /// <summary>LEVEE_CHURN_SECONDS, else 60 s in CI, else 5 minutes.</summary>
    private static readonly TimeSpan ChurnDuration = TimeSpan.FromSeconds(RunLength.From("LEVEE_CHURN_SECONDS", inCi: 60, full: 300));

    [Fact]
    public async Task TopicChurn_UnderCpuPressure_EveryPartitionReturnsToFullIsr_AndNoAcknowledgedRecordIsLost()
    {
        // The stable topic ("checked", never deleted) with its checker producing throughout.
        await using var run = await FaultRun.StartAsync("churn", 3, ClusterTimeouts.Short, output);
        var cluster = run.Cluster;
        var problems = new ConcurrentQueue<string>();
        var generations = new ConcurrentDictionary<string, Generation>(StringComparer.Ordinal);
        try
        {
            // The controller is starved, as broker 1 (also the controller) was in the issue.
            var victim = cluster.Node(await cluster.ControllerIdAsync());
            var cpu = Environment.ProcessorCount - 1;
            await victim.PinToCpusAsync(cpu.ToString(CultureInfo.InvariantCulture));
            using (var hog = CpuHog.Start(cpu, HogLoops))
            {
                run.Note($"broker {victim.NodeId} (the controller) pinned to CPU {cpu} beside {HogLoops} busy loops; churning {ChurnedTopics.Length} topics ({ChurnedPartitions} partitions, RF=3, min.insync.replicas=2) in {ChurnLoops} loops for {ChurnDuration.TotalSeconds:0} s");
                using var stop = new CancellationTokenSource(ChurnDuration);
                await Task.WhenAll(ChurnedTopics.Chunk(ChurnedTopics.Length / ChurnLoops).Select(names => Task.Run(() => ChurnAsync(run, names, generations, problems, stop))));
                Assert.True(hog.AllRunning, "A busy loop died during the churn: the broker was not under pressure throughout.");
            }

            var stopped = Checker.Now;
            await victim.PinToCpusAsync(string.Create(CultureInfo.InvariantCulture, $"0-{Environment.ProcessorCount - 1}"));
            run.Note($"churn stopped: {generations.Values.Sum(g => g.Number)} topic generations created; busy loops killed, broker {victim.NodeId} unpinned; {problems.Count} churn problems");

            // Every partition of every live topic (the churned ones' last generations, checked, __consumer_offsets)
            // heals within the deadline counted from the end of the churn.
            try
            {
                await cluster.WaitForFullIsrEverywhereAsync(HealDeadline - Checker.Since(stopped, Checker.Now));
                run.Note($"every partition of every topic at full ISR {Checker.Since(stopped, Checker.Now).TotalMilliseconds:0} ms after the churn stopped");
            }
            catch (TimeoutException ex)
            {
                Problem(run, problems, "not healed: " + ex.Message);
            }

            // The last generation of each churned topic still holds every record acknowledged to it (its producer
            // stops first; records still in flight are dropped with it: only acknowledged ones count).
            foreach (var (topic, generation) in generations.OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                await generation.Checker.StopProducingAsync();
                var lost = await Task.Run(() => Verifier.Check(cluster.BootstrapServers, topic, ChurnedPartitions, generation.Checker, out _));
                run.Note($"{topic} generation {generation.Number} (id {generation.TopicId}): {generation.Checker.TotalAcks} acknowledged records checked, {lost.Count} problems; so far {Verifier.Unconfirmed} record(s) reported persisted without an offset are absent (librdkafka's implicit acknowledgement, docs/faults.md)");
                foreach (var line in lost.Take(10))
                {
                    Problem(run, problems, $"{topic} generation {generation.Number}: {line}");
                }
            }

            try
            {
                await run.StopAndVerifyAsync(expectNoDeliveryError: false);
            }
            finally
            {
                foreach (var node in cluster.Nodes)
                {
                    foreach (var line in node.ProblemLines().Take(10))
                    {
                        Problem(run, problems, $"broker {node.NodeId} logged: {line}");
                    }
                }
            }

            Assert.True(problems.IsEmpty, $"{problems.Count} problems:{Environment.NewLine}{string.Join(Environment.NewLine, problems)}{Environment.NewLine}{cluster.LogTails(40)}");
        }
        finally
        {
            foreach (var generation in generations.Values)
            {
                generation.Checker.Dispose();
            }
        }
    }

    /// <summary>
    /// One churn loop: for each of its names in turn, delete the topic's current generation (if any) while its
    /// producer still writes and wait until Metadata no longer shows it, create it again, produce acks=all to
    /// every partition (on until the next deletion), and read what was acknowledged with a fresh consumer group;
    /// until <paramref name="stop"/> fires or a step fails (then all loops stop).
    /// </summary>
    private static async Task ChurnAsync(FaultRun run, string[] names, ConcurrentDictionary<string, Generation> generations, ConcurrentQueue<string> problems, CancellationTokenSource stop)
    {
        var cluster = run.Cluster;
        while (!stop.IsCancellationRequested)
        {
            foreach (var topic in names)
            {
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                var previous = generations.GetValueOrDefault(topic);
                var number = (previous?.Number ?? 0) + 1;
                var step = $"{topic} generation {number}";
                try
                {
                    if (previous is not null)
                    {
                        // Deleted while its producer still writes (and the followers fetch what it wrote); the
                        // producer is dropped before the next generation exists, so none of its retries reach it.
                        await cluster.DeleteTopicAsync(topic, StepDeadline);
                        generations.TryRemove(topic, out _);
                        await previous.Checker.StopProducingAsync();
                        previous.Checker.Dispose();
                    }

                    var id = await cluster.CreateTopicGenerationAsync(topic, ChurnedPartitions, FaultRun.ReplicationFactor, FaultRun.MinInsyncReplicas, previous?.TopicId ?? "", StepDeadline);
                    await Wait.UntilAsync(
                        $"{step}: a leader for every partition",
                        StepDeadline,
                        async () => await cluster.DescribeAsync(topic) is { } states && states.Count == ChurnedPartitions && states.All(s => s.Leader >= 0));

                    var checker = new Checker(cluster.BootstrapServers, topic, ChurnedPartitions, idempotent: true);
                    generations[topic] = new Generation(number, id, checker);
                    checker.Start();
                    await checker.WaitForProgressAsync(RecordsPerPartition, StepDeadline);

                    // The producer goes on while the group reads what was acknowledged so far.
                    var group = await Task.Run(() => GroupReader.Read(cluster.BootstrapServers, topic, ChurnedPartitions, checker, $"churn-{topic}-{number}-{Guid.NewGuid():N}", 2, StepDeadline));
                    if (group.Problems.Count > 0)
                    {
                        throw new InvalidOperationException($"{step}: the consumer group did not read every acknowledged record: {string.Join("; ", group.Problems.Take(10))}");
                    }

                    if (checker.FatalErrors.Count > 0)
                    {
                        throw new InvalidOperationException($"{step}: fatal producer errors: {string.Join("; ", checker.FatalErrors)}");
                    }

                    run.Note($"{step} (id {id}): the group read the {group.RecordsSeen - group.Duplicates} records acknowledged when it started in {group.AllSeenAfter.TotalMilliseconds:0} ms and committed; {checker.TotalAcks} acknowledged now");
                }
                catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or KafkaException)
                {
                    Problem(run, problems, $"churn stopped at {step}: {ex.Message}");
                    await stop.CancelAsync();
                    return;
                }
            }
        }
    }

    private static void Problem(FaultRun run, ConcurrentQueue<string> problems, string problem)
    {
        problems.Enqueue(problem);
        run.Note("PROBLEM: " + problem);
    }

    /// <summary>One generation of a churned topic: its number, topic id, and the checker that wrote to it.</summary>
    private sealed record Generation(int Number, string TopicId, Checker Checker);
}
