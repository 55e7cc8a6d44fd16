using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Compat.Infrastructure;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Xunit.Abstractions;

namespace Levee.Compat;

/// <summary>
/// The over-quota storm (KAFKA-4725, the cascade of a real hosted Kafka fleet): 200 connections of one basic-0 tenant
/// send 1 MB Produce requests as fast as they are answered, far above the plan's 64 KB/s, against a `levee serve`
/// process. The broker's peak RSS stays within a fixed bound over the quiet run (its request memory share and the
/// transport's buffer per connection), nothing acknowledged is lost for either tenant, and the other tenant's produce
/// p99 stays within 2x of its quiet value. The admin storm: CreateTopics, CreatePartitions and DeleteTopics as fast as
/// they are answered. LEVEE_STORM_SECONDS and LEVEE_ADMIN_STORM_SECONDS set each phase's length: 60 and 30 s in CI,
/// 180 s by hand. They measure latency, so .ci/run runs them alone, after every other test (Category=Alone).
/// </summary>
[Trait("Category", "Alone")]
public sealed class TenantStormTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Connections = 200;
    private const int RequestBytes = 1024 * 1024;
    private const long Budget = 256L * 1024 * 1024;
    private const long TenantShare = Budget / 4;
    private const long RuntimeAllowance = 64L * 1024 * 1024;

    // A quiet p99 of a few ms on this shared 2-core machine moves by as much between two quiet runs (2.0 to 7.4 ms
    // seen): 2x is taken of at least 5 ms. The measured ratio is reported either way.
    private const double NoiseFloorMs = 5.0;
    private const long TransportBufferPerConnection = Levee.Broker.Network.KafkaListenerHost.MaxReadBufferSize;
    private static readonly int Seconds = RunLength("LEVEE_STORM_SECONDS", 60, 180);

    // KIP-599 lets a tenant burst its rate x the quota span (110 partitions for 10/s) before it is throttled; a phase of
    // 15 s is mostly that burst, so the admin storm's phases are longer in CI.
    private static readonly int AdminSeconds = RunLength("LEVEE_ADMIN_STORM_SECONDS", 30, 180);
    private readonly string _password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-storm-" + Guid.NewGuid().ToString("N"));
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        var passwordFile = Path.Combine(_dir, "password");
        await File.WriteAllTextAsync(passwordFile, _password + "\n");
        var dataDir = Path.Combine(_dir, "data");
        foreach (var user in new[] { "admin", "storm-1", "quiet-1" })
        {
            var set = await Tool.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "levee.dll"), "users", "set", user, "--mechanism", "SCRAM-SHA-512", "--password-file", passwordFile, "--data-dir", dataDir]);
            Assert.True(set.ExitCode == 0, set.StdErr + set.StdOut);
        }

        _levee = await LeveeProcess.StartAsync(dataDir, null, "--set", "listener.security.protocol.map=PLAINTEXT:SASL_PLAINTEXT", "--set", "queued.max.request.bytes=" + Budget.ToString(CultureInfo.InvariantCulture));
        await using var admin = await SaslPlainClient.ConnectAsync(_levee.BootstrapServers, "admin", _password, "storm-admin");
        // basic-0's rates and connection creation rate (20/s), with room for the storm's 200 connections (basic-0 has 100).
        await admin.AlterConfigsAsync(
            101,
            "storm",
            ("producer_byte_rate", 0, "65536"),
            ("consumer_byte_rate", 0, "262144"),
            ("connection_creation_rate", 0, "20"),
            ("connections", 0, "250"),
            ("controller_mutation_rate", 0, "10"),
            ("partitions", 0, "240"));
        await admin.AlterConfigsAsync(100, "storm", ("plan", 0, "storm"), ("users", 2, "storm-1"));
        await admin.AlterConfigsAsync(100, "quiet", ("plan", 0, "basic-2"), ("users", 2, "quiet-1"));
    }

    public async Task DisposeAsync()
    {
        await _levee.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task OverQuotaStorm_BoundsMemory_LosesNothing_AndLeavesTheOtherTenantsLatency()
    {
        using (var admin = new AdminClientBuilder(Config("quiet-1")).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        using (var admin = new AdminClientBuilder(Config("storm-1")).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "flood", NumPartitions = 4, ReplicationFactor = 1 }]);
        }

        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig(Config("quiet-1")) { Acks = Acks.All, LingerMs = 0 }).Build();
        var sent = 0;
        var quiet = await MeasureQuietAsync(producer, TimeSpan.FromSeconds(Seconds), () => sent++);
        var quietPeak = PeakRss();

        using var stop = new CancellationTokenSource();
        var stormStats = new StormStats();

        // One batch for every storm request, built before the quiet tenant's clock runs (building 200 would stall the
        // test process, where the quiet tenant's producer runs too).
        var batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), [new RecordData(null, new byte[RequestBytes - 200], 0)]);
        var storm = Enumerable.Range(0, Connections).Select(i => Task.Run(() => StormAsync(i, batch, stormStats, stop.Token))).ToList();
        var stormy = await MeasureQuietAsync(producer, TimeSpan.FromSeconds(Seconds), () => sent++);
        await stop.CancelAsync();
        var acked = (await Task.WhenAll(storm)).Sum();
        var stormPeak = PeakRss();

        var bound = TenantShare + (Connections * TransportBufferPerConnection) + RuntimeAllowance;
        output.WriteLine($"{Seconds} s per phase; quiet p99 {quiet:F1} ms, during the storm {stormy:F1} ms ({stormy / quiet:F2}x)");
        output.WriteLine($"peak RSS quiet {quietPeak / 1048576} MiB, with the storm {stormPeak / 1048576} MiB (+{(stormPeak - quietPeak) / 1048576} MiB; bound +{bound / 1048576} MiB)");
        output.WriteLine($"storm: {stormStats.Requests} requests answered, {stormStats.GivenUp} given up after the client's timeout, {acked} records acknowledged ({acked * RequestBytes / Seconds / 1024} KiB/s against the plan's 64), longest throttle {stormStats.MaxThrottleMs} ms");

        Assert.True(stormStats.MaxThrottleMs > 0, "The storm was never throttled.");
        Assert.InRange(stormPeak - quietPeak, long.MinValue, bound);
        Assert.True(stormy <= 2 * Math.Max(quiet, NoiseFloorMs), $"The quiet tenant's p99 went from {quiet:F1} ms to {stormy:F1} ms.");

        // Nothing acknowledged is lost: every quiet record and every storm record is in its topic.
        using var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig(Config("admin")) { GroupId = "storm-check" }).Build();
        Assert.Equal(sent, consumer.QueryWatermarkOffsets(new TopicPartition("quiet.orders", 0), TimeSpan.FromSeconds(10)).High.Value);
        var stored = Enumerable.Range(0, 4).Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition("storm.flood", p), TimeSpan.FromSeconds(10)).High.Value);
        // A request cut off by the end of the storm or given up by its client may be written unacknowledged.
        Assert.InRange(stored, acked, acked + Connections + stormStats.GivenUp);
    }

    /// <summary>
    /// The admin storm: the storm tenant sends CreateTopics, CreatePartitions and DeleteTopics as fast as it is
    /// answered from 20 connections. It gets THROTTLING_QUOTA_EXCEEDED (KIP-599, its plan's 10 partition mutations per
    /// second), the metadata quorum stays responsive (an operator's CreateTopics during the storm completes), and the
    /// quiet tenant's produce p99 stays within 2x of quiet.
    /// </summary>
    [Fact]
    public async Task AdminStorm_IsThrottled_AndLeavesTheQuorumAndTheOtherTenantsLatency()
    {
        using (var admin = new AdminClientBuilder(Config("quiet-1")).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig(Config("quiet-1")) { Acks = Acks.All, LingerMs = 0 }).Build();
        var quiet = await MeasureQuietAsync(producer, TimeSpan.FromSeconds(AdminSeconds), () => { });

        using var stop = new CancellationTokenSource();
        var counts = new AdminStormCounts();
        var storm = Enumerable.Range(0, 20).Select(i => Task.Run(() => AdminStormAsync(i, counts, stop.Token))).ToList();
        var stormy = MeasureQuietAsync(producer, TimeSpan.FromSeconds(AdminSeconds), () => { });

        // The operator's own admin call, in the middle of the storm.
        await Task.Delay(TimeSpan.FromSeconds(AdminSeconds / 2.0));
        var operatorClock = Stopwatch.StartNew();
        using (var admin = new AdminClientBuilder(Config("admin")).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "operator-topic", NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        var operatorMs = operatorClock.Elapsed.TotalMilliseconds;
        var stormyP99 = await stormy;
        await stop.CancelAsync();
        await Task.WhenAll(storm);

        output.WriteLine($"{AdminSeconds} s per phase; quiet p99 {quiet:F1} ms, during the admin storm {stormyP99:F1} ms ({stormyP99 / quiet:F2}x)");
        output.WriteLine($"admin storm: {counts.Applied} admin requests applied ({counts.Applied / (double)AdminSeconds:F1}/s; the plan allows 10 partition mutations/s after its burst), {counts.Throttled} refused with THROTTLING_QUOTA_EXCEEDED, {counts.Other} other answers; the operator's CreateTopics took {operatorMs:F0} ms");

        Assert.True(counts.Throttled > 0, "The admin storm was never throttled.");
        Assert.True(operatorMs < 10_000, $"The operator's CreateTopics took {operatorMs:F0} ms.");
        Assert.True(stormyP99 <= 2 * Math.Max(quiet, NoiseFloorMs), $"The quiet tenant's p99 went from {quiet:F1} ms to {stormyP99:F1} ms.");
    }

    // One admin storm connection: create a topic, add a partition, delete it, again, with the strict versions (KIP-599).
    private async Task AdminStormAsync(int index, AdminStormCounts counts, CancellationToken cancellationToken)
    {
        await using var client = await SaslPlainClient.ConnectAsync(_levee.BootstrapServers, "storm-1", _password, "admin-storm-" + index.ToString(CultureInfo.InvariantCulture), CancellationToken.None);
        for (var round = 0; !cancellationToken.IsCancellationRequested; round++)
        {
            var name = $"t{index}-{round}";
            try
            {
                var create = new CreateTopicsRequest { TimeoutMs = 10_000 };
                create.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = 1, ReplicationFactor = 1 });
                counts.Note((await client.SendAsync<CreateTopicsRequest, CreateTopicsResponse>(ApiKey.CreateTopics, 7, create, cancellationToken)).Topics.Single().ErrorCode);

                var grow = new CreatePartitionsRequest { TimeoutMs = 10_000 };
                grow.Topics.Add(new CreatePartitionsRequest.CreatePartitionsTopic { Name = name, Count = 2, Assignments = null });
                counts.Note((await client.SendAsync<CreatePartitionsRequest, CreatePartitionsResponse>(ApiKey.CreatePartitions, 3, grow, cancellationToken)).Results.Single().ErrorCode);

                var delete = new DeleteTopicsRequest { TimeoutMs = 10_000 };
                delete.Topics.Add(new DeleteTopicsRequest.DeleteTopicState { Name = name });
                counts.Note((await client.SendAsync<DeleteTopicsRequest, DeleteTopicsResponse>(ApiKey.DeleteTopics, 6, delete, cancellationToken)).Responses.Single().ErrorCode);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    // The quiet tenant produces one record every 20 ms, each waiting for its acknowledgement; returns the p99 in ms.
    private static async Task<double> MeasureQuietAsync(IProducer<Null, string> producer, TimeSpan length, Action counted)
    {
        var latencies = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < length)
        {
            var started = Stopwatch.GetTimestamp();
            await producer.ProduceAsync("orders", new Message<Null, string> { Value = "quiet" });
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);


            counted();
            await Task.Delay(20);
        }

        latencies.Sort();
        return latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1];
    }

    // One storm connection: 1 MB Produce requests (acks=1) one after another; returns the records acknowledged. A
    // request the broker holds back past the client's timeout is given up, and the client connects again.
    private async Task<long> StormAsync(int index, byte[] batch, StormStats stats, CancellationToken cancellationToken)
    {
        var request = new ProduceRequest { Acks = 1, TimeoutMs = 30_000 };
        var topic = new ProduceRequest.TopicProduceData { Name = "flood" };
        topic.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = index % 4, Records = batch });
        request.TopicData.Add(topic);
        long acked = 0;
        var clientId = "storm-" + index.ToString(CultureInfo.InvariantCulture);
        var client = await SaslPlainClient.ConnectAsync(_levee.BootstrapServers, "storm-1", _password, clientId, CancellationToken.None);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                ProduceResponse response;
                try
                {
                    response = await client.SendAsync<ProduceRequest, ProduceResponse>(ApiKey.Produce, 9, request, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    // Stopped mid-request: not acknowledged, and it may or may not be written (counted by the log below).
                    break;
                }
                catch (IOException)
                {
                    Interlocked.Increment(ref stats.GivenUp);
                    await client.DisposeAsync();
                    client = await SaslPlainClient.ConnectAsync(_levee.BootstrapServers, "storm-1", _password, clientId, CancellationToken.None);
                    continue;
                }

                Interlocked.Increment(ref stats.Requests);
                stats.NoteThrottle(response.ThrottleTimeMs);
                if (response.Responses.Single().PartitionResponses.Single().ErrorCode == 0)
                {
                    acked++;
                }
            }
        }
        finally
        {
            await client.DisposeAsync();
        }

        return acked;
    }

    private long PeakRss()
    {
        var line = File.ReadLines($"/proc/{_levee.Pid}/status").Single(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private ClientConfig Config(string user) => new()
    {
        BootstrapServers = _levee.BootstrapServers,
        SecurityProtocol = SecurityProtocol.SaslPlaintext,
        SaslMechanism = SaslMechanism.Plain,
        SaslUsername = user,
        SaslPassword = _password,
    };

    private static int RunLength(string variable, int inCi, int full) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? inCi : full;

    private sealed class AdminStormCounts
    {
        public long Applied;
        public long Throttled;
        public long Other;

        public void Note(short errorCode)
        {
            switch ((Levee.Protocol.ErrorCode)errorCode)
            {
                case Levee.Protocol.ErrorCode.None:
                    Interlocked.Increment(ref Applied);
                    break;
                case Levee.Protocol.ErrorCode.ThrottlingQuotaExceeded:
                    Interlocked.Increment(ref Throttled);
                    break;
                default:
                    Interlocked.Increment(ref Other);
                    break;
            }
        }
    }

    private sealed class StormStats
    {
        public long Requests;
        public long GivenUp;
        private long _maxThrottleMs;

        public long MaxThrottleMs => Interlocked.Read(ref _maxThrottleMs);

        public void NoteThrottle(int throttleMs)
        {
            var seen = Interlocked.Read(ref _maxThrottleMs);
            while (throttleMs > seen && Interlocked.CompareExchange(ref _maxThrottleMs, throttleMs, seen) != seen)
            {
                seen = Interlocked.Read(ref _maxThrottleMs);
            }
        }
    }
}
