using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Faults.Infrastructure;
using Levee.Protocol.Records;
using Levee.Storage;
using Xunit.Abstractions;
using TopicPartition = Confluent.Kafka.TopicPartition;

namespace Levee.Faults;

/// <summary>
/// Issue 12, "Disk": a broker whose log directory sits on a small file system that fills up degrades and never
/// crashes. Produce is refused with the retriable KAFKA_STORAGE_ERROR (an idempotent producer's deliveries stall),
/// reads go on, the log says so once instead of a stack trace per refused write, a SIGTERM stops it cleanly, a
/// restart while the disk is still full serves reads, and once space is freed produce resumes with every
/// acknowledged record there exactly once.
/// </summary>
public sealed class DiskFullTests(ITestOutputHelper output)
{
    private const string Topic = "filling";
    private const int Partitions = 2;
    private const int FileSystemMegabytes = 16;

    /// <summary>What the broker may print while its disk stays full (the issue saw 400 KB in 4 s).</summary>
    private const long MaxFullDiskLogChars = 20_000;

    /// <summary>How long the disk stays full with the producer retrying (LEVEE_DISKFULL_SECONDS; 15 keeps the test under a minute).</summary>
    private static readonly int FullSeconds = RunLength.From("LEVEE_DISKFULL_SECONDS", inCi: 15, full: 15);

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task FullDisk_RefusesProduceRetriably_ServesReads_StopsAndRestartsCleanly_ResumesWhenFreed()
    {
        await using var disk = await SmallFileSystem.MountAsync(FileSystemMegabytes);
        await using var node = new LeveeNode(1, Path.Combine(disk.Path, "data"));
        var problems = new List<string>();
        var args = new[]
        {
            "serve",
            "--node-id", "1",
            "--port", node.Port.ToString(CultureInfo.InvariantCulture),
            "--data-dir", node.DataDir,
            "--set", "quorum.port=" + node.QuorumPort.ToString(CultureInfo.InvariantCulture),
            "--set", "auto.create.topics.enable=false",
            "--set", "admin.listener=127.0.0.1:0",
        };
        try
        {
            node.Launch(args);
            await node.WaitReadyAsync(ReadyTimeout);
            var bootstrap = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{node.Port}");
            await CreateTopicAsync(bootstrap);

            using var checker = new Checker(bootstrap, Topic, Partitions, idempotent: true);
            checker.Start();
            await checker.WaitForProgressAsync(200, TimeSpan.FromSeconds(30));

            // A first read (its consumer's group creates __consumer_offsets now, not on the full disk).
            var readProblems = Verifier.Check(bootstrap, Topic, Partitions, checker, out var read);
            problems.AddRange(readProblems.Take(5).Select(p => "read before the fill: " + p));

            // Fill the file system to the last byte while the producer writes (the broker then gives its metadata log
            // part of its reserve, which the partitions do not get): appends are refused and deliveries stall.
            var filled = disk.FillUp();
            var fullAt = Checker.Now;
            var full = node.Mark();
            var stalled = await WaitForStallAsync(checker);
            var acksAtFull = checker.TotalAcks;
            Note($"filled the {FileSystemMegabytes} MiB file system with {filled} bytes; acknowledgements stopped {stalled.TotalMilliseconds:0} ms later, "
                + $"after {acksAtFull} records; {disk.AvailableBytes} bytes free, {ReserveFiles(node)} reserve files left");

            // Produce: refused with KAFKA_STORAGE_ERROR (retriable), on every partition.
            await ProbeAsync(bootstrap, "on the full disk", problems);

            // Reads: every record acknowledged so far is served, once, at its offset.
            readProblems = Verifier.Check(bootstrap, Topic, Partitions, checker, out read);
            problems.AddRange(readProblems.Take(5).Select(p => "read on the full disk: " + p));
            Note($"read {read} records on the full disk; {readProblems.Count} problems");

            // The producer keeps retrying for a while: the broker stays up and says so in a few lines.
            await Task.Delay(TimeSpan.FromSeconds(FullSeconds) - Checker.Since(fullAt, Checker.Now));
            var stalledAcks = checker.TotalAcks - acksAtFull;
            CheckQuietLog(node, full, $"{FullSeconds} s of full disk under a retrying producer", problems, MaxFullDiskLogChars);
            if (!node.IsRunning)
            {
                Assert.Fail($"The broker exited while its disk was full. {Describe(problems)}{Tail(node)}");
            }

            // SIGTERM on the full disk (whatever the broker released of its reserve is taken first): exit code 0.
            var retaken = disk.FillUp();
            await StopAsync(node, $"SIGTERM on the full disk ({retaken} bytes taken again first)", problems);

            // A restart with the disk still full: ready, serving reads, refusing produce.
            retaken = disk.FillUp();
            var restart = node.Mark();
            var restartAt = Checker.Now;
            await RestartAsync(node, args, problems);
            Note($"restart on the full disk ({retaken} bytes taken again first): ready after {Checker.Since(restartAt, Checker.Now).TotalMilliseconds:0} ms");
            readProblems = Verifier.Check(bootstrap, Topic, Partitions, checker, out read);
            problems.AddRange(readProblems.Take(5).Select(p => "read after the restart on the full disk: " + p));
            Note($"after the restart on the full disk: read {read} records, {readProblems.Count} problems");
            await ProbeAsync(bootstrap, "after the restart on the full disk", problems);
            CheckQuietLog(node, restart, "the restart on the full disk", problems, maxChars: null);

            // Free the space: produce resumes, without a restart.
            var freed = disk.FreeFillers();
            var freedAt = Checker.Now;
            await checker.WaitForProgressAsync(200, TimeSpan.FromSeconds(60));
            var firstAcks = Enumerable.Range(0, Partitions).Select(p => checker.AcksOf(p).Where(a => a.AckedAt >= freedAt).Min(a => a.AckedAt)).Max();
            Note($"freed {freed} bytes: every partition acknowledged records again after {Checker.Since(freedAt, firstAcks).TotalMilliseconds:0} ms, "
                + $"200 more each after {Checker.Since(freedAt, Checker.Now).TotalMilliseconds:0} ms (acknowledged while full: {stalledAcks})");

            // Full to the last byte with the whole reserve taken too: the logs cannot be closed cleanly, and a SIGTERM
            // still stops the broker with exit code 0 and one line about it.
            var exhausted = await ExhaustAsync(disk, node);
            var stop = node.Mark();
            await StopAsync(node, $"SIGTERM on a disk full to the last byte, reserve gone ({exhausted} bytes filled)", problems);
            if (!node.LogSince(stop).Contains("not cleanly", StringComparison.Ordinal))
            {
                problems.Add("the SIGTERM on a disk full to the last byte did not report an unclean close: it did not test what it should");
            }

            // Space freed, restart (recovering the logs): produce goes on, and every acknowledged record is there once.
            disk.FreeFillers();
            await RestartAsync(node, args, problems);
            await checker.WaitForProgressAsync(100, TimeSpan.FromSeconds(60));
            await checker.StopAsync();
            problems.AddRange(checker.Failures.Take(5).Select(f => $"delivery failed: p{f.Partition} {f.Value}: {f.Error}"));
            readProblems = Verifier.Check(bootstrap, Topic, Partitions, checker, out read);
            problems.AddRange(readProblems.Take(10).Select(p => "final read: " + p));
            Note($"at the end: {checker.TotalAcks} acknowledged, {checker.Failures.Count} delivery failures, {read} records read, {readProblems.Count} problems");
            await StopAsync(node, "the last SIGTERM", problems);
            if (!node.Log.Contains("Levee broker 1 stopped cleanly", StringComparison.Ordinal))
            {
                problems.Add("no \"stopped cleanly\" line");
            }

            Assert.True(problems.Count == 0, Describe(problems) + Tail(node));
        }
        finally
        {
            if (Environment.GetEnvironmentVariable("LEVEE_FAULTS_LOGS") is { Length: > 0 } keep)
            {
                Directory.CreateDirectory(keep);
                await File.WriteAllTextAsync(Path.Combine(keep, "disk-full-node-1.log"), node.Log);
            }
        }
    }

    /// <summary>
    /// The write itself on a file system with no byte left (no broker, so no reserve): the append fails with ENOSPC,
    /// what part of it reached the file is cut off again, the log stays readable, and it appends once space is freed.
    /// </summary>
    [Fact]
    public async Task PartitionLog_OnAFullFileSystem_RefusesTheAppend_CutsWhatReachedTheFile_AndAppendsOnceSpaceIsFreed()
    {
        await using var disk = await SmallFileSystem.MountAsync(4);
        var dir = Path.Combine(disk.Path, "orders-0");
        var tp = new Levee.Storage.TopicPartition("orders", 0);
        var logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, new byte[60_000], 1_700_000_000_000)]);
        long end;
        using (var log = PartitionLog.Open(dir, tp, LogConfig.Default, 0, hadCleanShutdown: true, logger, TimeProvider.System))
        {
            disk.FillLeaving(512 * 1024);
            IOException? refused = null;
            for (var i = 0; i < 100 && refused is null; i++)
            {
                try
                {
                    log.AppendAsLeader((byte[])batch.Clone(), leaderEpoch: 0);
                }
                catch (IOException e)
                {
                    refused = e;
                }
            }

            Assert.NotNull(refused);
            Assert.True(DiskSpace.IsOutOfSpace(refused), refused.ToString());
            end = log.LogEndOffset;
            var segment = Path.Combine(dir, "00000000000000000000.log");
            Assert.Equal(log.Size, new FileInfo(segment).Length);
            Assert.Equal(end * batch.Length, log.Size);
            Assert.Equal(log.Size, log.Read(0, int.MaxValue, end, minOneBatch: true).Length);
            Note($"a 4 MiB file system: {end} appends of {batch.Length} bytes, then ENOSPC ({refused.Message}); the segment is cut back to its {log.Size} published bytes");

            disk.FreeFillers();
            Assert.Equal(end, log.AppendAsLeader((byte[])batch.Clone(), leaderEpoch: 0).FirstOffset);
        }

        using var reopened = PartitionLog.Open(dir, tp, LogConfig.Default, 0, hadCleanShutdown: true, logger, TimeProvider.System);
        Assert.Equal(end + 1, reopened.LogEndOffset);
    }

    /// <summary>SIGTERM: exit code 0 within the bound, and a quiet log without stack traces.</summary>
    private async Task StopAsync(LeveeNode node, string what, List<string> problems)
    {
        var stop = node.Mark();
        var exit = await node.TerminateAsync(StopTimeout);
        Note($"{what}: exit code {exit}");
        if (exit != 0)
        {
            problems.Add($"{what}: exit code {exit}");
        }

        CheckQuietLog(node, stop, what, problems, MaxFullDiskLogChars);
    }

    private static async Task RestartAsync(LeveeNode node, string[] args, List<string> problems)
    {
        node.Launch(args);
        try
        {
            await node.WaitReadyAsync(ReadyTimeout);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            Assert.Fail($"A restart did not become ready: {e.Message}{Environment.NewLine}{Describe(problems)}");
        }
    }

    /// <summary>
    /// Fills the file system again each time the broker releases part of its reserve, until none is left, then to the
    /// last byte; returns the bytes filled.
    /// </summary>
    private static async Task<long> ExhaustAsync(SmallFileSystem disk, LeveeNode node)
    {
        var filled = disk.FillUp();
        for (var files = ReserveFiles(node); files > 0; files = ReserveFiles(node))
        {
            var before = files;
            await Wait.UntilAsync($"the broker to release part of its reserve ({before} files left)", TimeSpan.FromSeconds(10), () => ReserveFiles(node) < before);
            filled += disk.FillUp();
        }

        return filled;
    }

    private static int ReserveFiles(LeveeNode node)
    {
        var reserve = Path.Combine(node.DataDir, LogDirectorySpace.ReserveDirectoryName);
        return Directory.Exists(reserve) ? Directory.GetFiles(reserve).Length : 0;
    }

    /// <summary>
    /// The broker's output since <paramref name="mark"/> stays small, has no stack trace line and no unhandled exception.
    /// </summary>
    private void CheckQuietLog(LeveeNode node, LogMark mark, string what, List<string> problems, long? maxChars)
    {
        var printed = node.OutputCharsSince(mark);
        var lines = node.LogSince(mark).Split('\n');
        var stackLines = lines.Count(l => l.Contains("   at ", StringComparison.Ordinal));
        var unhandled = lines.Where(l => l.Contains("Unhandled exception", StringComparison.Ordinal)).ToList();
        Note($"{what}: the broker printed {printed} chars in {lines.Length - 1} lines, {stackLines} of them with stack frames");
        if (printed > maxChars)
        {
            problems.Add($"{what}: the broker printed {printed} chars (more than {maxChars})");
        }

        if (lines.FirstOrDefault(l => l.Contains("   at ", StringComparison.Ordinal)) is { } first)
        {
            problems.Add($"{what}: {stackLines} lines with stack frames, the first: {(first.Length > 300 ? first[..300] + "..." : first.Trim())}");
        }

        problems.AddRange(unhandled.Take(3).Select(l => $"{what}: {l.Trim()}"));
    }

    /// <summary>Waits until no record has been acknowledged for two seconds; returns how long acknowledgements went on.</summary>
    private static async Task<TimeSpan> WaitForStallAsync(Checker checker)
    {
        var start = Checker.Now;
        var lastAcks = -1;
        var lastChange = start;
        while (Checker.Since(lastChange, Checker.Now) < TimeSpan.FromSeconds(2))
        {
            if (Checker.Since(start, Checker.Now) > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"The producer was still acknowledged 30 s after the disk was filled{checker.Describe()}.");
            }

            if (checker.TotalAcks != lastAcks)
            {
                lastAcks = checker.TotalAcks;
                lastChange = Checker.Now;
            }

            // Polling a counter, not synchronising with the broker.
            await Task.Delay(100);
        }

        return Checker.Since(start, lastChange);
    }

    /// <summary>One record to each partition from a producer that does not retry: each must be refused with KAFKA_STORAGE_ERROR.</summary>
    private async Task ProbeAsync(string bootstrap, string when, List<string> problems)
    {
        using var probe = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.All,
            EnableIdempotence = false,
            MessageSendMaxRetries = 0,
            MessageTimeoutMs = 20_000,
        }).Build();
        var answers = new List<string>();
        for (var p = 0; p < Partitions; p++)
        {
            var error = ErrorCode.NoError;
            try
            {
                await probe.ProduceAsync(new TopicPartition(Topic, p), new Message<string, string> { Key = "probe", Value = "probe-" + Guid.NewGuid().ToString("N") });
            }
            catch (ProduceException<string, string> e)
            {
                error = e.Error.Code;
            }

            answers.Add($"p{p} {error}");
            if (error != ErrorCode.KafkaStorageError)
            {
                problems.Add($"produce to p{p} {when} answered {error}, not KAFKA_STORAGE_ERROR");
            }
        }

        Note($"produce {when}: {string.Join(", ", answers)}");
    }

    private static async Task CreateTopicAsync(string bootstrap)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = Topic, NumPartitions = Partitions, ReplicationFactor = 1 }]);
    }

    private static string Describe(List<string> problems) =>
        $"{problems.Count} problems:{Environment.NewLine}{string.Join(Environment.NewLine, problems)}";

    private static string Tail(LeveeNode node) =>
        Environment.NewLine + "Broker log tail:" + Environment.NewLine
        + string.Join(Environment.NewLine, node.Log.Split('\n').TakeLast(30).Select(l => "    " + (l.Length > 400 ? l[..400] + "..." : l.TrimEnd('\r'))));

    private void Note(string line) => FaultRun.Note(output, "disk full: " + line);
}
