using Levee.Broker.Tests.Infrastructure;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Producers;

/// <summary>Producer ids come from controller-allocated blocks, so no two brokers of a cluster hand out the same id.</summary>
public sealed class ClusterProducerIdTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(3);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task BrokersOfOneCluster_NeverHandOutTheSameProducerId()
    {
        var seen = new Dictionary<long, int>();
        for (var round = 0; round < 20; round++)
        {
            // All three brokers at once, so their first blocks are asked for concurrently.
            var responses = await Task.WhenAll(_cluster.Brokers.Select(async b => (b!.Identity.NodeId, Response: await RawProducer.InitProducerIdAsync(b.BootstrapServers))));
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
}
