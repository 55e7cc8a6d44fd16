using Levee.Cluster.Metadata;

namespace Levee.Cluster.Tests;

public sealed class MetadataImageTests
{
    private static readonly Guid OrdersId = Guid.Parse("0b9a0a47-3c43-4c1c-a0a4-8b8f1c6c2d11");

    private static MetadataImage ClusterWithOrders() => MetadataImage.Empty.Apply(
    [
        new RegisterBrokerRecord(1, Guid.NewGuid(), 10, [new BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9092)]),
        new RegisterBrokerRecord(2, Guid.NewGuid(), 20, [new BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9093)], Fenced: false),
        new TopicRecord("orders", OrdersId),
        new PartitionRecord(OrdersId, 0, [1, 2], [1, 2], 1),
        new PartitionRecord(OrdersId, 1, [2, 1], [2, 1], 2),
        new ConfigRecord(ConfigResourceType.Topic, "orders", "retention.ms", "60000"),
    ]);

    [Fact]
    public void Apply_RegisterTopicPartitions_BuildsTheImage()
    {
        var image = ClusterWithOrders();

        Assert.True(image.Brokers[1].Fenced);
        Assert.False(image.Brokers[2].Fenced);
        Assert.Equal(9093, image.Brokers[2].EndPoints[0].Port);
        Assert.Same(image.TopicsByName["orders"], image.TopicsById[OrdersId]);
        Assert.Equal([2, 1], image.GetPartition("orders", 1)!.Replicas.ToArray());
        Assert.Equal("60000", image.GetConfigs(ConfigResourceType.Topic, "orders")["retention.ms"]);
        Assert.Empty(MetadataImage.Empty.Brokers);
    }

    [Fact]
    public void Apply_FenceAndUnfence_ChangeOnlyTheFencedFlag()
    {
        var image = ClusterWithOrders().Apply(new UnfenceBrokerRecord(1, 10));
        Assert.False(image.Brokers[1].Fenced);

        image = image.Apply(new FenceBrokerRecord(1, 10)).Apply(new BrokerRegistrationChangeRecord(2, 20, InControlledShutdown: true));
        Assert.True(image.Brokers[1].Fenced);
        Assert.True(image.Brokers[2].InControlledShutdown);
        Assert.False(image.Brokers[2].Fenced);
    }

    [Fact]
    public void Apply_PartitionChangeWithNewLeader_BumpsLeaderAndPartitionEpochs()
    {
        var image = ClusterWithOrders().Apply(new PartitionChangeRecord(OrdersId, 0, Isr: [2], Leader: 2));
        var p = image.GetPartition("orders", 0)!;
        Assert.Equal((2, 1, 1), (p.Leader, p.LeaderEpoch, p.PartitionEpoch));
        Assert.Equal([2], p.Isr.ToArray());

        image = image.Apply(new PartitionChangeRecord(OrdersId, 0, Isr: [2, 1]));
        p = image.GetPartition("orders", 0)!;
        Assert.Equal((2, 1, 2), (p.Leader, p.LeaderEpoch, p.PartitionEpoch));
    }

    [Fact]
    public void Apply_InvalidRecord_ThrowsAndLeavesTheImageUnchanged()
    {
        var image = ClusterWithOrders();
        var before = image.ToSnapshot();

        Assert.Throws<InvalidMetadataRecordException>(() => image.Apply(new TopicRecord("orders", Guid.NewGuid())));
        Assert.Throws<InvalidMetadataRecordException>(() => image.Apply(new PartitionRecord(Guid.NewGuid(), 0, [1], [1], 1)));
        Assert.Throws<InvalidMetadataRecordException>(() => image.Apply(new PartitionChangeRecord(OrdersId, 0, Leader: 3)));
        Assert.Throws<InvalidMetadataRecordException>(() => image.Apply(new PartitionChangeRecord(OrdersId, 0, Isr: [1, 3])));
        Assert.Throws<InvalidMetadataRecordException>(() => image.Apply(new PartitionChangeRecord(OrdersId, 7, Leader: 1)));
        Assert.Throws<InvalidMetadataRecordException>(() => image.Apply(new FenceBrokerRecord(1, 11)));
        Assert.Throws<InvalidMetadataRecordException>(() => image.Apply(new ProducerIdsRecord(1, 10, 0)));
        Assert.Throws<InvalidMetadataRecordException>(() => image.Apply([new RemoveTopicRecord(OrdersId), new RemoveTopicRecord(OrdersId)]));

        Assert.Equal(before, image.ToSnapshot());
    }

    [Fact]
    public void Apply_RemoveTopic_DropsItsPartitionsAndConfigs()
    {
        var image = ClusterWithOrders().Apply(new RemoveTopicRecord(OrdersId));

        Assert.Empty(image.TopicsByName);
        Assert.Empty(image.TopicsById);
        Assert.Empty(image.Configs);
        Assert.Null(image.GetPartition("orders", 0));
    }

    [Fact]
    public void Apply_ConfigWithNullValue_DeletesTheOverride()
    {
        var image = ClusterWithOrders()
            .Apply(new ConfigRecord(ConfigResourceType.Broker, "1", "log.retention.ms", "5"))
            .Apply(new ConfigRecord(ConfigResourceType.Topic, "orders", "retention.ms", null));

        Assert.False(image.Configs.ContainsKey(new ConfigResource(ConfigResourceType.Topic, "orders")));
        Assert.Equal("5", image.GetConfigs(ConfigResourceType.Broker, "1")["log.retention.ms"]);
    }

    [Fact]
    public void Snapshot_RoundTrip_KeepsEverythingAndTheOffset()
    {
        var image = ClusterWithOrders()
            .Apply(new PartitionChangeRecord(OrdersId, 1, Leader: 1))
            .Apply(new ProducerIdsRecord(1, 10, 1000))
            .WithOffset(42);

        var restored = MetadataImage.FromSnapshot(image.ToSnapshot());

        Assert.Equal(42, restored.Offset);
        Assert.Equal(1000, restored.NextProducerId);
        var (before, after) = (image.GetPartition("orders", 1)!, restored.GetPartition("orders", 1)!);
        Assert.Equal((before.Leader, before.LeaderEpoch, before.PartitionEpoch), (after.Leader, after.LeaderEpoch, after.PartitionEpoch));
        Assert.Equal(before.Replicas.ToArray(), after.Replicas.ToArray());
        Assert.Equal(1, restored.GetPartition("orders", 1)!.LeaderEpoch);
        Assert.Equal(image.ToSnapshot(), restored.ToSnapshot());
    }

    [Fact]
    public void FromSnapshot_Garbage_ThrowsMetadataFormatException()
    {
        Assert.Throws<MetadataFormatException>(() => MetadataImage.FromSnapshot(new byte[] { 1, 2, 3 }));
        var snapshot = ClusterWithOrders().ToSnapshot();
        Assert.Throws<MetadataFormatException>(() => MetadataImage.FromSnapshot(snapshot.AsMemory(0, snapshot.Length - 1)));
    }
}
