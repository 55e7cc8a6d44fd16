using Confluent.Kafka;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests;

public sealed class OffsetForLeaderEpochTests : IAsyncLifetime
{
    private const short Version = 4;
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task TheCurrentEpoch_EndsAtTheLogEnd_AndAStaleOrFutureCurrentEpochIsRefused()
    {
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _broker.BootstrapServers }).Build())
        {
            for (var i = 0; i < 25; i++)
            {
                await producer.ProduceAsync("epochs", new Message<Null, string> { Value = "e" + i });
            }
        }

        Assert.True(_broker.Broker.Replicas.TryGetPartition("epochs", 0, out var partition));
        var epoch = partition.LeaderEpoch;

        var current = await AskAsync(epoch, epoch);
        Assert.Equal((short)KafkaErrorCode.None, current.ErrorCode);
        Assert.Equal(epoch, current.LeaderEpoch);
        Assert.Equal(25, current.EndOffset);

        Assert.Equal((short)KafkaErrorCode.UnknownLeaderEpoch, (await AskAsync(epoch, epoch + 1)).ErrorCode);
        var unknownEpoch = await AskAsync(epoch + 5, epoch);
        Assert.Equal(-1, unknownEpoch.EndOffset);
    }

    private async Task<OffsetForLeaderEpochResponse.EpochEndOffset> AskAsync(int leaderEpoch, int currentLeaderEpoch)
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var request = new OffsetForLeaderEpochRequest { ReplicaId = -1 };
        var topic = new OffsetForLeaderEpochRequest.OffsetForLeaderTopic { Topic = "epochs" };
        topic.Partitions.Add(new OffsetForLeaderEpochRequest.OffsetForLeaderPartition { Partition = 0, LeaderEpoch = leaderEpoch, CurrentLeaderEpoch = currentLeaderEpoch });
        request.Topics.Add(topic);
        var id = await client.SendAsync(ApiKey.OffsetForLeaderEpoch, Version, (ref KafkaWriter w) => request.Write(ref w, Version));
        var body = await client.ReceiveAsync(ApiKey.OffsetForLeaderEpoch, Version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return OffsetForLeaderEpochResponse.Read(ref reader, Version).Topics[0].Partitions[0];
    }
}
