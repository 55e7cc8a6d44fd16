using System.Diagnostics;
using Levee.Broker.Tests.Groups;
using Levee.Broker.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Tests;

/// <summary>max.connections over real sockets: connections over it are closed as soon as they are accepted.</summary>
public sealed class MaxConnectionsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ConnectionsOverMaxConnections_AreClosedAtOnce_WithOneLogLine_WhileTheOthersKeepWorking()
    {
        var log = new LogCollector();
        await using var broker = await TestBroker.StartAsync(o => o with { MaxConnections = 3 }, configureLogging: log.AddTo);
        var served = new List<RawKafkaClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                served.Add(await RawKafkaClient.ConnectAsync(broker.BootstrapServers));
                await served[^1].ApiVersionsAsync();
            }

            var first = "";
            for (var i = 0; i < 5; i++)
            {
                using var refused = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
                first = i == 0 ? refused.LocalAddress : first;
                var since = Stopwatch.StartNew();
                Assert.True(await refused.IsClosedByPeerAsync(Patience), "a connection over max.connections was not closed");
                Assert.InRange(since.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
            }

            Assert.Equal(5, broker.Broker.Connections.Refused);
            Assert.Equal(3, broker.Broker.Connections.Open);
            foreach (var client in served)
            {
                await client.ApiVersionsAsync();
            }

            // One line for the five, naming the first.
            var line = Assert.Single(log.Containing("max.connections"));
            Assert.Equal(LogLevel.Warning, line.Level);
            Assert.Contains(first, line.Message, StringComparison.Ordinal);

            // A connection closed makes room for a new one.
            served[0].Dispose();
            served.RemoveAt(0);
            await GroupTestSupport.WaitUntilAsync(() => broker.Broker.Connections.Open == 2, Patience, () => $"the closed connection uncounted (open {broker.Broker.Connections.Open})");
            served.Add(await RawKafkaClient.ConnectAsync(broker.BootstrapServers));
            await served[^1].ApiVersionsAsync();
        }
        finally
        {
            served.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task TheInterBrokerListener_IsNotRefusedByMaxConnections()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { Listeners = "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0", MaxConnections = 1 });
        var endpoint = broker.Broker.Identity.Endpoints.Single(e => e.Name == "BROKER");
        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        await client.ApiVersionsAsync();
        using var refused = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        Assert.True(await refused.IsClosedByPeerAsync(Patience), "a client connection over max.connections was not closed");

        using var fromABroker = await RawKafkaClient.ConnectAsync($"{endpoint.Host}:{endpoint.Port}");
        await fromABroker.ApiVersionsAsync();
        Assert.Equal(2, broker.Broker.Connections.Open);
    }

    [Fact]
    public async Task ABrokerWithMaxConnectionsZero_DoesNotStart()
    {
        var error = await Assert.ThrowsAsync<BrokerConfigurationException>(() => TestBroker.StartAsync(o => o with { MaxConnections = 0 }));
        Assert.Contains("'max.connections' must be positive", error.Message, StringComparison.Ordinal);
    }
}
