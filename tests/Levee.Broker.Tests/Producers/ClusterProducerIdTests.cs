using System.Globalization;
using System.Net;
using System.Net.Sockets;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Producers;

/// <summary>Producer ids come from controller-allocated blocks, so no two brokers of a cluster hand out the same id.</summary>
public sealed class ClusterProducerIdTests : IAsyncLifetime
{
    private readonly List<string> _dirs = [];
    private LeveeBroker[] _brokers = [];

    public async Task InitializeAsync()
    {
        var quorumPorts = Enumerable.Range(0, 3).Select(_ => FreePort()).ToArray();
        var voters = string.Join(',', quorumPorts.Select((p, i) => string.Create(CultureInfo.InvariantCulture, $"{i + 1}@127.0.0.1:{p}")));
        var starts = Enumerable.Range(1, 3).Select(id =>
        {
            var dir = Path.Combine(Path.GetTempPath(), "levee-test-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            _dirs.Add(dir);
            return LeveeBroker.StartAsync(new BrokerOptions { NodeId = id, DataDir = dir, Port = 0, QuorumVoters = voters });
        }).ToArray();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        _brokers = await Task.WhenAll(starts).WaitAsync(deadline.Token);
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(_brokers.Select(b => b.DisposeAsync().AsTask()));
        foreach (var dir in _dirs)
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }

    [Fact]
    public async Task BrokersOfOneCluster_NeverHandOutTheSameProducerId()
    {
        var seen = new Dictionary<long, int>();
        for (var round = 0; round < 20; round++)
        {
            // All three brokers at once, so their first blocks are asked for concurrently.
            var responses = await Task.WhenAll(_brokers.Select(async b => (b.Identity.NodeId, Response: await RawProducer.InitProducerIdAsync(b.BootstrapServers))));
            foreach (var (nodeId, response) in responses)
            {
                Assert.Equal((short)KafkaErrorCode.None, response.ErrorCode);
                Assert.True(seen.TryAdd(response.ProducerId, nodeId), $"producer id {response.ProducerId} given by broker {nodeId} and broker {seen.GetValueOrDefault(response.ProducerId)}");
            }
        }

        // Each broker drew its own block: three blocks' worth of distinct ranges, none overlapping.
        var blocks = seen.GroupBy(p => p.Value).Select(g => (Min: g.Min(p => p.Key), Max: g.Max(p => p.Key))).OrderBy(b => b.Min).ToArray();
        Assert.Equal(3, blocks.Length);
        for (var i = 1; i < blocks.Length; i++)
        {
            Assert.True(blocks[i].Min > blocks[i - 1].Max, $"blocks overlap: {blocks[i - 1]} and {blocks[i]}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
