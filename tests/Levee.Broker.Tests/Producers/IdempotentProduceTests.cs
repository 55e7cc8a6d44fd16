using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using KafkaErrorCode = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Producers;

public sealed class IdempotentProduceTests : IAsyncLifetime
{
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task InitProducerId_GivesDistinctIds_AndBumpsTheEpochOfAProducerThatReinitialises()
    {
        var first = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers);
        var second = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, version: 0);
        Assert.Equal((short)KafkaErrorCode.None, first.ErrorCode);
        Assert.Equal(0, first.ProducerEpoch);
        Assert.NotEqual(first.ProducerId, second.ProducerId);

        var bumped = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, producerId: first.ProducerId, epoch: 0);
        Assert.Equal((first.ProducerId, (short)1), (bumped.ProducerId, bumped.ProducerEpoch));

        // The same request again (its answer lost): the same answer, not a second bump.
        var retried = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, producerId: first.ProducerId, epoch: 0);
        Assert.Equal((first.ProducerId, (short)1), (retried.ProducerId, retried.ProducerEpoch));
    }

    [Fact]
    public async Task ProducerIds_NeverRepeatAcrossRestarts()
    {
        var before = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers);
        await _broker.RestartAsync();
        var after = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers);
        Assert.True(after.ProducerId > before.ProducerId, $"{after.ProducerId} after restart, {before.ProducerId} before");
    }

    [Fact]
    public async Task DuplicateBatch_GetsTheSameOffset_AndIsStoredOnce()
    {
        await CreateTopicAsync("dup");
        var (pid, epoch) = await InitAsync();
        var batch = RawProducer.Batch(pid, epoch, 0, "a", "b");

        var first = await RawProducer.ProduceAsync(_broker.BootstrapServers, "dup", batch);
        var retry = await RawProducer.ProduceAsync(_broker.BootstrapServers, "dup", RawProducer.Batch(pid, epoch, 0, "a", "b"));

        Assert.Equal((short)KafkaErrorCode.None, retry.ErrorCode);
        Assert.Equal(first.BaseOffset, retry.BaseOffset);
        Assert.Equal(2, LogEndOffset("dup"));
    }

    [Fact]
    public async Task SequenceGap_IsOutOfOrderSequenceNumber_AndWritesNothing()
    {
        await CreateTopicAsync("gap");
        var (pid, epoch) = await InitAsync();
        await RawProducer.ProduceAsync(_broker.BootstrapServers, "gap", RawProducer.Batch(pid, epoch, 0, "a"));

        var gap = await RawProducer.ProduceAsync(_broker.BootstrapServers, "gap", RawProducer.Batch(pid, epoch, 2, "c"));

        Assert.Equal((short)KafkaErrorCode.OutOfOrderSequenceNumber, gap.ErrorCode);
        Assert.Equal(1, LogEndOffset("gap"));
        var next = await RawProducer.ProduceAsync(_broker.BootstrapServers, "gap", RawProducer.Batch(pid, epoch, 1, "b"));
        Assert.Equal((short)KafkaErrorCode.None, next.ErrorCode);
        Assert.Equal(1, next.BaseOffset);
    }

    [Fact]
    public async Task StaleEpoch_IsInvalidProducerEpoch()
    {
        await CreateTopicAsync("epoch");
        var (pid, _) = await InitAsync();
        var bumped = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers, producerId: pid, epoch: 0);
        await RawProducer.ProduceAsync(_broker.BootstrapServers, "epoch", RawProducer.Batch(pid, bumped.ProducerEpoch, 0, "new"));

        var stale = await RawProducer.ProduceAsync(_broker.BootstrapServers, "epoch", RawProducer.Batch(pid, 0, 1, "zombie"));

        Assert.Equal((short)KafkaErrorCode.InvalidProducerEpoch, stale.ErrorCode);
        Assert.Equal(1, LogEndOffset("epoch"));
    }

    [Fact]
    public async Task DuplicateAfterACleanRestart_IsStillDeduplicated()
    {
        await CreateTopicAsync("restart");
        var (pid, epoch) = await InitAsync();
        var first = await RawProducer.ProduceAsync(_broker.BootstrapServers, "restart", RawProducer.Batch(pid, epoch, 0, "a", "b"));
        await RawProducer.ProduceAsync(_broker.BootstrapServers, "restart", RawProducer.Batch(pid, epoch, 2, "c"));

        await _broker.RestartAsync();

        var retry = await RawProducer.ProduceAsync(_broker.BootstrapServers, "restart", RawProducer.Batch(pid, epoch, 0, "a", "b"));
        Assert.Equal((short)KafkaErrorCode.None, retry.ErrorCode);
        Assert.Equal(first.BaseOffset, retry.BaseOffset);
        Assert.Equal(3, LogEndOffset("restart"));
    }

    [Fact]
    public async Task DuplicateAfterAnUncleanStop_IsStillDeduplicated()
    {
        await CreateTopicAsync("crash");
        var (pid, epoch) = await InitAsync();
        await RawProducer.ProduceAsync(_broker.BootstrapServers, "crash", RawProducer.Batch(pid, epoch, 0, "a"));
        var second = await RawProducer.ProduceAsync(_broker.BootstrapServers, "crash", RawProducer.Batch(pid, epoch, 1, "b", "c"));

        // A crash image: the data directory as it is on disk (page cache included) while the broker runs, with no
        // clean-shutdown marker and no snapshot from a close. A new broker recovers from it.
        var image = Path.Combine(Path.GetTempPath(), "levee-crash-" + Guid.NewGuid().ToString("N"));
        CopyDirectory(_broker.DataDir, image);
        try
        {
            await using var recovered = await TestBroker.StartAsync(o => o with { DataDir = image });
            Assert.False(recovered.Broker.Replicas.Logs.HadCleanShutdown);

            var retry = await RawProducer.ProduceAsync(recovered.BootstrapServers, "crash", RawProducer.Batch(pid, epoch, 1, "b", "c"));
            Assert.Equal((short)KafkaErrorCode.None, retry.ErrorCode);
            Assert.Equal(second.BaseOffset, retry.BaseOffset);
            Assert.True(recovered.Broker.Replicas.TryGetPartition("crash", 0, out var partition));
            Assert.Equal(3, partition.Log.LogEndOffset);

            // And the id block survived too: the recovered broker never hands out the same id again.
            var fresh = await RawProducer.InitProducerIdAsync(recovered.BootstrapServers);
            Assert.NotEqual(pid, fresh.ProducerId);
        }
        finally
        {
            Directory.Delete(image, recursive: true);
        }
    }

    [Fact]
    public async Task DescribeProducers_ShowsTheProducer()
    {
        await CreateTopicAsync("describe");
        var (pid, epoch) = await InitAsync();
        await RawProducer.ProduceAsync(_broker.BootstrapServers, "describe", RawProducer.Batch(pid, epoch, 0, "a", "b", "c"));

        var partition = await RawProducer.DescribeProducersAsync(_broker.BootstrapServers, "describe");

        Assert.Equal((short)KafkaErrorCode.None, partition.ErrorCode);
        var producer = Assert.Single(partition.ActiveProducers);
        Assert.Equal(pid, producer.ProducerId);
        Assert.Equal(epoch, producer.ProducerEpoch);
        Assert.Equal(2, producer.LastSequence);
        Assert.True(producer.LastTimestamp > 0);
        Assert.Equal(-1, producer.CoordinatorEpoch);
        Assert.Equal(-1, producer.CurrentTxnStartOffset);

        var unknown = await RawProducer.DescribeProducersAsync(_broker.BootstrapServers, "describe", partition: 7);
        Assert.Equal((short)KafkaErrorCode.UnknownTopicOrPartition, unknown.ErrorCode);
    }

    private async Task<(long ProducerId, short Epoch)> InitAsync()
    {
        InitProducerIdResponse response = await RawProducer.InitProducerIdAsync(_broker.BootstrapServers);
        Assert.Equal((short)KafkaErrorCode.None, response.ErrorCode);
        return (response.ProducerId, response.ProducerEpoch);
    }

    private long LogEndOffset(string topic)
    {
        Assert.True(_broker.Broker.Replicas.TryGetPartition(topic, 0, out var partition));
        return partition.Log.LogEndOffset;
    }

    private async Task CreateTopicAsync(string topic)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }
}
