namespace Levee.Broker.Security;

/// <summary>Kafka's ACL operations, with Kafka's codes (the ones the ACL APIs carry).</summary>
public enum AclOperation : sbyte
{
    /// <summary>READ: fetch, commit and fetch offsets, join a group.</summary>
    Read = 3,

    /// <summary>WRITE: produce.</summary>
    Write = 4,

    /// <summary>CREATE: create topics.</summary>
    Create = 5,

    /// <summary>DELETE: delete topics, records, groups.</summary>
    Delete = 6,

    /// <summary>ALTER: create partitions.</summary>
    Alter = 7,

    /// <summary>DESCRIBE: metadata, offsets, groups, producers.</summary>
    Describe = 8,

    /// <summary>CLUSTER_ACTION: what brokers and controllers do to each other (replication, registration, ISR changes).</summary>
    ClusterAction = 9,

    /// <summary>DESCRIBE_CONFIGS.</summary>
    DescribeConfigs = 10,

    /// <summary>ALTER_CONFIGS.</summary>
    AlterConfigs = 11,

    /// <summary>IDEMPOTENT_WRITE: obtain a producer id.</summary>
    IdempotentWrite = 12,
}

/// <summary>Kafka's resource types, with Kafka's codes.</summary>
public enum ResourceType : sbyte
{
    /// <summary>A topic, by name.</summary>
    Topic = 2,

    /// <summary>A consumer group, by id.</summary>
    Group = 3,

    /// <summary>The cluster (one resource, <c>kafka-cluster</c>).</summary>
    Cluster = 4,

    /// <summary>A transactional id.</summary>
    TransactionalId = 5,
}
