namespace Levee.Cluster.Controller;

/// <summary>
/// Bounds on what one admin request may ask of the cluster. Kafka's controller refuses a request that would
/// write more than 10,000 metadata records with POLICY_VIOLATION ("Unable to perform excessively large batch
/// operation."); Levee has the same bound (configurable), a bound on partitions per topic, and one on the
/// brokers' capacity with the headroom guard's margin (<see cref="HeadroomGuard"/>), so that no single request can
/// stall the metadata quorum or give the brokers more than the survivors of a failure could carry.
/// </summary>
/// <param name="MaxRecordsPerUserOp">controller.max.records.per.user.op: metadata records one request may write.</param>
/// <param name="MaxPartitionsPerTopic">max.partitions.per.topic.</param>
/// <param name="BrokerCapacity">broker.capacity.*: every broker's limits unless BROKER configs in the metadata log override them.</param>
/// <param name="HeadroomMargin">headroom.margin: the part of each limit kept free after any single failure.</param>
public sealed record AdminLimits(int MaxRecordsPerUserOp = 10_000, int MaxPartitionsPerTopic = 10_000, BrokerCapacity? BrokerCapacity = null, double HeadroomMargin = 0.2)
{
    /// <summary>The brokers' default limits.</summary>
    public BrokerCapacity Capacity => BrokerCapacity ?? Controller.BrokerCapacity.Unbounded;

    /// <summary>Kafka's message for a request over the record bound.</summary>
    public const string ExcessiveBatchMessage = "Unable to perform excessively large batch operation.";

    /// <summary>Kafka's defaults.</summary>
    public static AdminLimits Default { get; } = new();

    /// <summary>The metadata records a new topic writes: the topic, one per partition, one per config.</summary>
    public static long RecordsForTopic(long partitions, int configs) => 1 + Math.Max(0, partitions) + configs;

    /// <summary>Refuses a request that would write more than <see cref="MaxRecordsPerUserOp"/> records, or null.</summary>
    public Decision? CheckRecords(long records, string what) =>
        records > MaxRecordsPerUserOp
            ? Decision.Fail(Protocol.ErrorCode.PolicyViolation, $"{ExcessiveBatchMessage} {what} would write {records} metadata records; at most {MaxRecordsPerUserOp} are allowed in one request (controller.max.records.per.user.op).")
            : null;

    /// <summary>Refuses a topic of more than <see cref="MaxPartitionsPerTopic"/> partitions, or null.</summary>
    public Decision? CheckPartitionCount(string topic, long partitions) =>
        partitions > MaxPartitionsPerTopic
            ? Decision.Fail(Protocol.ErrorCode.InvalidPartitions, $"Topic '{topic}' would have {partitions} partitions; at most {MaxPartitionsPerTopic} are allowed (max.partitions.per.topic).")
            : null;
}
