using Confluent.Kafka;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests;

/// <summary>AlterReplicaLogDirs with Levee's one log directory: a move into it is done already, any other path does not exist.</summary>
public sealed class AlterReplicaLogDirsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task MoveIntoTheLogDir_IsNone_AnotherPathIsLogDirNotFound_AndAnUnhostedPartitionNotAvailable(short version)
    {
        await using var broker = await TestBroker.StartAsync();
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, Acks = Acks.All }).Build())
        {
            await producer.ProduceAsync("moved", new Message<Null, string> { Value = "v" });
        }

        var logDir = Path.GetFullPath(broker.Broker.Options.DataDir);
        var request = new AlterReplicaLogDirsRequest();
        request.Dirs.Add(Dir(logDir, ("moved", 0), ("moved", 7)));
        request.Dirs.Add(Dir("/nowhere/levee", ("moved", 0)));

        using var client = await RawKafkaClient.ConnectAsync(broker.BootstrapServers);
        var id = await client.SendAsync(ApiKey.AlterReplicaLogDirs, version, (ref KafkaWriter w) => request.Write(ref w, version));
        var body = await client.ReceiveAsync(ApiKey.AlterReplicaLogDirs, version, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        var response = AlterReplicaLogDirsResponse.Read(ref reader, version);

        var errors = response.Results.SelectMany(t => t.Partitions.Select(p => (KafkaErrorCode)p.ErrorCode)).ToList();
        Assert.Equal([KafkaErrorCode.None, KafkaErrorCode.ReplicaNotAvailable, KafkaErrorCode.LogDirNotFound], errors);

        // Nothing moved: the replica is where it was, and still serves.
        Assert.True(broker.Broker.Replicas.TryGetPartition("moved", 0, out var partition));
        Assert.Equal(1, partition.Log.LogEndOffset);
        Assert.StartsWith(logDir, partition.Log.Directory, StringComparison.Ordinal);
    }

    private static AlterReplicaLogDirsRequest.AlterReplicaLogDir Dir(string path, params (string Topic, int Partition)[] partitions)
    {
        var dir = new AlterReplicaLogDirsRequest.AlterReplicaLogDir { Path = path };
        foreach (var topic in partitions.GroupBy(p => p.Topic))
        {
            dir.Topics.Add(new AlterReplicaLogDirsRequest.AlterReplicaLogDirTopic { Name = topic.Key, Partitions = [.. topic.Select(p => p.Partition)] });
        }

        return dir;
    }
}
