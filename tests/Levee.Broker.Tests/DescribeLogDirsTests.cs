using Confluent.Kafka;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests;

/// <summary>DescribeLogDirs: the broker's one log directory and the size of each replica in it.</summary>
public sealed class DescribeLogDirsTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(4)]
    public async Task DescribeLogDirs_ReportsEachReplicasSize_AndTheFileSystemFromV4(short version)
    {
        await using var broker = await TestBroker.StartAsync();
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < 10; i++)
            {
                await producer.ProduceAsync("sized", new Message<Null, string> { Value = new string('x', 1000) });
            }
        }

        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var all = await DescribeAsync(client, version, new DescribeLogDirsRequest { Topics = null });
        var dir = Assert.Single(all.Results);
        Assert.Equal(0, dir.ErrorCode);
        Assert.Equal(Path.GetFullPath(broker.Broker.Options.DataDir), dir.LogDir);
        var partition = Assert.Single(Assert.Single(dir.Topics, t => t.Name == "sized").Partitions);
        Assert.Equal(0, partition.PartitionIndex);
        Assert.Equal(broker.Broker.Replicas.Partitions.Single(p => p.Id.Topic == "sized").Log.Size, partition.PartitionSize);
        Assert.True(partition.PartitionSize > 10_000, $"size {partition.PartitionSize}");
        if (version >= 4)
        {
            Assert.True(dir.TotalBytes > 0 && dir.UsableBytes > 0 && dir.UsableBytes <= dir.TotalBytes, $"total {dir.TotalBytes}, usable {dir.UsableBytes}");
        }
        else
        {
            Assert.Equal(-1, dir.TotalBytes);
        }

        // Asked for one partition, and one this broker does not host: only the hosted one is answered.
        var some = await DescribeAsync(client, version, new DescribeLogDirsRequest
        {
            Topics = [new DescribeLogDirsRequest.DescribableLogDirTopic { Topic = "sized", Partitions = [0, 7] }, new DescribeLogDirsRequest.DescribableLogDirTopic { Topic = "absent", Partitions = [0] }],
        });
        var topic = Assert.Single(Assert.Single(some.Results).Topics);
        Assert.Equal("sized", topic.Name);
        Assert.Equal([0], topic.Partitions.Select(p => p.PartitionIndex));
    }

    private static async Task<DescribeLogDirsResponse> DescribeAsync(RawKafkaClient client, short version, DescribeLogDirsRequest request)
    {
        var id = await client.SendAsync(ApiKey.DescribeLogDirs, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.DescribeLogDirs, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return DescribeLogDirsResponse.Read(ref reader, version);
    }
}
