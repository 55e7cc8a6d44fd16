using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Tests;

/// <summary>
/// connections.max.idle.ms and request.arrival.timeout.ms over real sockets and real time: idle connections are
/// closed, and so are connections whose request never finishes arriving, but never one whose request the broker is
/// handling or holding back for memory. The timeouts are short and every wait is bounded generously.
/// </summary>
public sealed partial class ConnectionTimeoutsTests
{
    private const int Timeout = 1000;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AnIdleConnection_IsClosedAfterConnectionsMaxIdleMs_WhileOneSendingRequestsMoreOftenStaysOpen()
    {
        var log = new LogCollector();
        await using var broker = await TestBroker.StartAsync(o => o with { ConnectionsMaxIdleMs = Timeout }, configureLogging: log.AddTo);
        using var idle = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        using var busy = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        await idle.ApiVersionsAsync();
        var since = Stopwatch.StartNew();

        // The busy connection sends a request every 100 ms for three idle periods, each answered (a tenth of the idle
        // timeout, so that a loaded machine's late timers do not make it idle).
        var requests = Task.Run(async () =>
        {
            while (since.Elapsed < TimeSpan.FromMilliseconds(3 * Timeout))
            {
                await Task.Delay(100);
                await busy.ApiVersionsAsync();
            }
        });

        Assert.True(await idle.IsClosedByPeerAsync(Patience), "the idle connection was not closed");
        Assert.InRange(since.ElapsedMilliseconds, Timeout - 50, (long)Patience.TotalMilliseconds);
        await requests.WaitAsync(Patience);
        await busy.ApiVersionsAsync();

        var line = Assert.Single(log.Containing("connections.max.idle.ms"));
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Contains(idle.LocalAddress, line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AConnectionTricklingARequestAByteEvery200Ms_IsClosedAfterRequestArrivalTimeoutMs_AndItsMemoryGoesBack()
    {
        var log = new LogCollector();
        await using var broker = await TestBroker.StartAsync(o => o with { RequestArrivalTimeoutMs = Timeout }, configureLogging: log.AddTo);
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        await client.ApiVersionsAsync();

        var prefix = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(prefix, 1000);
        await client.Stream.WriteAsync(prefix);
        var since = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var trickle = Task.Run(async () =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    await client.Stream.WriteAsync(new byte[1]);
                    await Task.Delay(200, stop.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // Closed by the broker, or the test is done.
            }
        });

        Assert.True(await client.IsClosedByPeerAsync(Patience), "the trickling connection was not closed");
        Assert.InRange(since.ElapsedMilliseconds, Timeout - 50, (long)Patience.TotalMilliseconds);
        await stop.CancelAsync();
        await trickle.WaitAsync(Patience);

        // The frame's memory was drawn when its length came, and went back when the connection closed.
        await GroupTestSupport.WaitUntilAsync(() => broker.Broker.RequestMemory.Held == 0, Patience, () => $"request memory given back (held {broker.Broker.RequestMemory.Held})");
        var line = Assert.Single(log.Containing("request.arrival.timeout.ms"));
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Contains(client.LocalAddress, line.Message, StringComparison.Ordinal);
        Assert.Contains("of 1000 bytes declared", line.Message, StringComparison.Ordinal);
        var received = int.Parse(ReceivedBytes().Match(line.Message).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(received, 1, 999);
    }

    [Fact]
    public async Task AConnectionStoppingInsideALengthPrefix_IsClosedAfterRequestArrivalTimeoutMs()
    {
        var log = new LogCollector();
        await using var broker = await TestBroker.StartAsync(o => o with { RequestArrivalTimeoutMs = Timeout }, configureLogging: log.AddTo);
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        await client.Stream.WriteAsync(new byte[2]);

        Assert.True(await client.IsClosedByPeerAsync(Patience), "the connection was not closed");
        var line = Assert.Single(log.Containing("request.arrival.timeout.ms"));
        Assert.Contains(client.LocalAddress, line.Message, StringComparison.Ordinal);
        Assert.Contains("2 of the 4 bytes of its length prefix", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectionsWhoseRequestIsHandledOrWaitsForMemory_AreNotClosed_HoweverLongThatTakes()
    {
        // Two requests of 40 KB and a budget of 64 KiB: while the first is handled (held by the handler), the second
        // waits for memory. Both wait three times as long as either timeout, then both are answered.
        var handler = new HoldingHandler();
        await using var broker = await TestBroker.StartAsync(
            o => o with { ConnectionsMaxIdleMs = Timeout, RequestArrivalTimeoutMs = Timeout, SocketRequestMaxBytes = 64 * 1024, QueuedMaxRequestBytes = 64 * 1024 },
            s => s.AddSingleton<IApiHandler>(handler));
        using var handled = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        using var waiting = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var first = SendLargeDescribeLogDirsAsync(handled);
        await handler.Entered.Task.WaitAsync(Patience);
        var second = SendLargeDescribeLogDirsAsync(waiting);
        await GroupTestSupport.WaitUntilAsync(() => broker.Broker.RequestMemory.Waiting == 1, Patience, () => "the second request waiting for memory");

        await Task.Delay(3 * Timeout);
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);
        handler.Release.SetResult();

        await Task.WhenAll(first, second).WaitAsync(Patience);
        await handled.ApiVersionsAsync();
        await waiting.ApiVersionsAsync();
    }

    [Fact]
    public async Task AConfluentProducer_WhoseConnectionsWereClosedAsIdle_ReconnectsAndProduces()
    {
        // 2 s, not less: librdkafka, back from a lost connection, connects and then waits up to a second before it
        // asks for metadata; with a shorter limit it is closed again before it does, over and over.
        var log = new LogCollector();
        await using var broker = await TestBroker.StartAsync(o => o with { ConnectionsMaxIdleMs = 2000 }, configureLogging: log.AddTo);
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "idle", NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, Acks = Acks.All }).Build();
        var first = await producer.ProduceAsync("idle", new Message<Null, string> { Value = "before" }).WaitAsync(Patience);
        Assert.Equal(0, first.Offset.Value);

        // Every connection the producer had is closed as idle before it produces again.
        var before = log.Containing("connections.max.idle.ms").Count;
        await GroupTestSupport.WaitUntilAsync(() => broker.Broker.Connections.Open == 0, Patience, () => $"the producer's connections closed (open {broker.Broker.Connections.Open})");
        Assert.True(log.Containing("connections.max.idle.ms").Count > before);

        var second = await producer.ProduceAsync("idle", new Message<Null, string> { Value = "after" }).WaitAsync(Patience);
        Assert.Equal(PersistenceStatus.Persisted, second.Status);
        Assert.Equal(1, second.Offset.Value);
    }

    [Fact]
    public async Task DescribeConfigs_ShowsTheConnectionSettingsInEffect()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { ConnectionsMaxIdleMs = 120_000, MaxConnections = 500 });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var described = (await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Broker, Name = "1" }])).Single().Entries;

        Assert.Equal("120000", described["connections.max.idle.ms"].Value);
        Assert.Equal("30000", described["request.arrival.timeout.ms"].Value);
        Assert.Equal("500", described["max.connections"].Value);
    }

    [GeneratedRegex(@"had (\d+) of them")]
    private static partial Regex ReceivedBytes();

    // A DescribeLogDirs request of about 40 KB (10,000 partitions), answered.
    private static async Task SendLargeDescribeLogDirsAsync(RawKafkaClient client)
    {
        const short version = 4;
        var topic = new DescribeLogDirsRequest.DescribableLogDirTopic { Topic = "large", Partitions = [.. Enumerable.Range(0, 10_000)] };
        var id = await client.SendAsync(ApiKey.DescribeLogDirs, version, (ref KafkaWriter w) => new DescribeLogDirsRequest { Topics = [topic] }.Write(ref w, version));
        Assert.NotNull(await client.ReceiveAsync(ApiKey.DescribeLogDirs, version, id));
    }

    // Holds every request until released, keeping its frame (and the memory drawn for it) meanwhile.
    [NoAuthorization]
    private sealed class HoldingHandler : DescribeLogDirsTestHandler
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async ValueTask<DescribeLogDirsResponse?> HandleAsync(RequestContext context, DescribeLogDirsRequest request)
        {
            Entered.TrySetResult();
            await Release.Task;
            return new DescribeLogDirsResponse();
        }
    }
}
