using Levee.Cluster.Metadata;

namespace Levee.Cluster.Tests;

public sealed class MetadataRecordCodecTests
{
    private static readonly Guid TopicId = Guid.Parse("8d4a3e5c-58a4-4c3b-9b56-2f0a0e3c1a77");

    private static readonly MetadataRecord[] AllRecords =
    [
        new RegisterBrokerRecord(1, Guid.NewGuid(), 7, [new BrokerEndpoint("PLAINTEXT", "10.0.0.1", 9092), new BrokerEndpoint("SSL", "h", 65535, 1)], "rack-a", false, true),
        new RegisterBrokerRecord(2, Guid.NewGuid(), 1, [], null),
        new UnregisterBrokerRecord(3, 4),
        new FenceBrokerRecord(1, 7),
        new UnfenceBrokerRecord(1, 7),
        new BrokerRegistrationChangeRecord(1, 7, true, null),
        new BrokerRegistrationChangeRecord(1, 7, false, true),
        new TopicRecord("orders", TopicId),
        new PartitionRecord(TopicId, 5, [1, 2, 3], [1, 3], 3, 9, 12),
        new PartitionChangeRecord(TopicId, 5, [2], 2, [2, 3]),
        new PartitionChangeRecord(TopicId, 5),
        new PartitionRecord(TopicId, 5, [2, 3, 1], [1, 2], 1, 9, 12, [3], [1]),
        new PartitionChangeRecord(TopicId, 5, null, 2, [2, 3], [], []),
        new ConfigRecord(ConfigResourceType.Topic, "orders", "retention.ms", "1000"),
        new ConfigRecord(ConfigResourceType.Broker, "", "log.retention.ms", null),
        new RemoveTopicRecord(TopicId),
        new ProducerIdsRecord(2, 7, 5000),
        new UserScramCredentialRecord("alice", ScramMechanism.ScramSha512, [1, 2, 3], new byte[64], new byte[64], 8192),
        new RemoveUserScramCredentialRecord("alice", ScramMechanism.ScramSha256),
        new AccessControlEntryRecord(TopicId, 2, "orders-", 4, "User:alice", "*", 3, 3),
        new AccessControlEntryRecord(TopicId, 2, "acme.orders", 3, "User:*", "*", 3, 2, "acme"),
        new RemoveAccessControlEntryRecord(TopicId),
    ];

    public static TheoryData<MetadataRecord> EveryRecordType() => new(AllRecords);

    [Theory]
    [MemberData(nameof(EveryRecordType))]
    public void EncodeThenDecode_GivesAnEqualRecord(MetadataRecord record)
    {
        var bytes = MetadataRecordCodec.EncodeBatch([record]);
        var decoded = Assert.Single(MetadataRecordCodec.DecodeBatch(bytes));

        Assert.Equal(record.GetType(), decoded.GetType());
        Assert.Equal(bytes, MetadataRecordCodec.EncodeBatch([decoded]));
    }

    [Fact]
    public void Encode_WritesTypeAndVersionFirst()
    {
        var bytes = MetadataRecordCodec.EncodeBatch([new TopicRecord("t", TopicId)]);

        Assert.Equal(1, bytes[0]); // count
        Assert.Equal(new byte[] { 0, 2, 0, 0 }, bytes[1..5]); // type 2 (TopicRecord, as in KRaft), version 0
    }

    [Fact]
    public void Decode_AnyTruncation_ThrowsMetadataFormatException()
    {
        var all = AllRecords;
        var bytes = MetadataRecordCodec.EncodeBatch(all);
        Assert.Equal(all.Length, MetadataRecordCodec.DecodeBatch(bytes).Count);

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<MetadataFormatException>(() => MetadataRecordCodec.DecodeBatch(bytes.AsMemory(0, length)));
        }
    }

    [Fact]
    public void Decode_UnknownTypeOrVersion_Throws()
    {
        var bytes = MetadataRecordCodec.EncodeBatch([new RemoveTopicRecord(TopicId)]);
        var unknownType = (byte[])bytes.Clone();
        unknownType[2] = 99;
        var unknownVersion = (byte[])bytes.Clone();
        unknownVersion[4] = 1;

        Assert.Contains("Unknown metadata record type 99", Assert.Throws<MetadataFormatException>(() => MetadataRecordCodec.DecodeBatch(unknownType)).Message);
        Assert.Contains("Unsupported version 1", Assert.Throws<MetadataFormatException>(() => MetadataRecordCodec.DecodeBatch(unknownVersion)).Message);
    }

    [Fact]
    public void ScramCredentials_ApplyRemoveAndSurviveASnapshot()
    {
        var credential = new UserScramCredentialRecord("alice", ScramMechanism.ScramSha256, [9, 9], new byte[32], new byte[32], 4096);
        var image = MetadataImage.Empty.Apply([credential, credential with { Mechanism = ScramMechanism.ScramSha512, StoredKey = new byte[64], ServerKey = new byte[64] }]);

        var restored = MetadataImage.FromSnapshot(image.ToSnapshot());

        Assert.Equal(2, restored.ScramCredentials.Count);
        Assert.Equal([9, 9], restored.ScramCredentials[new ScramCredentialKey("alice", ScramMechanism.ScramSha256)].Salt);
        var removed = restored.Apply(new RemoveUserScramCredentialRecord("alice", ScramMechanism.ScramSha256));
        Assert.Equal(ScramMechanism.ScramSha512, Assert.Single(removed.ScramCredentials).Key.Mechanism);
        Assert.Throws<InvalidMetadataRecordException>(() => removed.Apply(new RemoveUserScramCredentialRecord("alice", ScramMechanism.ScramSha256)));
        Assert.Throws<InvalidMetadataRecordException>(() => removed.Apply(credential with { Iterations = 0 }));
    }
}
