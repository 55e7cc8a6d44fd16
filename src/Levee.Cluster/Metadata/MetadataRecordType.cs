namespace Levee.Cluster.Metadata;

/// <summary>
/// The type of a metadata record. The numbers are Kafka's KRaft record api keys
/// (../shared/kafka-protocol/metadata), so a Kafka operator recognises them in a dump.
/// </summary>
public enum MetadataRecordType : short
{
    /// <summary>A broker registered (or re-registered with a new epoch).</summary>
    RegisterBroker = 0,

    /// <summary>A broker left the cluster for good.</summary>
    UnregisterBroker = 1,

    /// <summary>A topic was created.</summary>
    Topic = 2,

    /// <summary>A partition was created (or its full state restated, in a snapshot).</summary>
    Partition = 3,

    /// <summary>A config was set or deleted.</summary>
    Config = 4,

    /// <summary>Some fields of a partition changed: leader, ISR, replicas.</summary>
    PartitionChange = 5,

    /// <summary>A broker was fenced.</summary>
    FenceBroker = 7,

    /// <summary>A broker was unfenced.</summary>
    UnfenceBroker = 8,

    /// <summary>A topic and its partitions were deleted.</summary>
    RemoveTopic = 9,

    /// <summary>A user's SCRAM credential for one mechanism was set.</summary>
    UserScramCredential = 11,

    /// <summary>A user's SCRAM credential for one mechanism was removed.</summary>
    RemoveUserScramCredential = 12,

    /// <summary>A client quota of one entity was set or removed.</summary>
    ClientQuota = 14,

    /// <summary>A block of producer ids was handed out.</summary>
    ProducerIds = 15,

    /// <summary>A broker's fenced or controlled-shutdown state changed.</summary>
    BrokerRegistrationChange = 17,

    /// <summary>An ACL was created.</summary>
    AccessControlEntry = 22,

    /// <summary>An ACL was deleted.</summary>
    RemoveAccessControlEntry = 23,
}

/// <summary>The kind of resource a <see cref="ConfigRecord"/> applies to (Kafka's ConfigResource.Type codes).</summary>
public enum ConfigResourceType : sbyte
{
    /// <summary>A topic config (<c>retention.ms</c>, <c>min.insync.replicas</c>, ...).</summary>
    Topic = 2,

    /// <summary>A broker config; the resource name is the broker id, or empty for the cluster-wide default.</summary>
    Broker = 4,

    /// <summary>A tenant of the hosted service (Levee's own type): its plan and SCRAM users.</summary>
    Tenant = 100,

    /// <summary>A plan of the hosted service (Levee's own type): its limits, overriding a built-in plan of that name.</summary>
    Plan = 101,
}
