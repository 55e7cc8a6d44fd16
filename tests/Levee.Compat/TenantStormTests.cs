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
/// p99 stays within 2x of its quiet value. LEVEE_STORM_SECONDS sets each phase's length: 15 s in CI, 180 s by hand.
/// </summary>
public sealed class TenantStormTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Connections = 200;
    private const int RequestBytes = 1024 * 1024;
    private const long Budget = 256L * 1024 * 1024;
    private const long TenantShare = Budget / 4;
    private const long RuntimeAllowance = 64L * 1024 * 1024;
    private const long TransportBufferPerConnection = Levee.Broker.Network.KafkaListenerHost.MaxReadBufferSize;
    private static readonly int Seconds = RunLength("LEVEE_STORM_SECONDS", 15, 180);
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
        await admin.AlterConfigsAsync(101, "storm", ("producer_byte_rate", 0, "65536"), ("consumer_byte_rate", 0, "262144"), ("connection_creation_rate", 0, "20"), ("connections", 0, "250"));
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
        Assert.True(stormy <= 2 * Math.Max(quiet, 2.0), $"The quiet tenant's p99 went from {quiet:F1} ms to {stormy:F1} ms.");

        // Nothing acknowledged is lost: every quiet record and every storm record is in its topic.
        using var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig(Config("admin")) { GroupId = "storm-check" }).Build();
        Assert.Equal(sent, consumer.QueryWatermarkOffsets(new TopicPartition("quiet.orders", 0), TimeSpan.FromSeconds(10)).High.Value);
        var stored = Enumerable.Range(0, 4).Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition("storm.flood", p), TimeSpan.FromSeconds(10)).High.Value);
        // A request cut off by the end of the storm or given up by its client may be written unacknowledged.
        Assert.InRange(stored, acked, acked + Connections + stormStats.GivenUp);
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
