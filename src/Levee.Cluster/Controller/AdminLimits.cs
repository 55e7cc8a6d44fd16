using Levee.Cluster.Metadata;

namespace Levee.Cluster.Controller;

/// <summary>
/// Bounds on what one admin request may ask of the cluster. Kafka's controller refuses a request that would
/// write more than 10,000 metadata records with POLICY_VIOLATION ("Unable to perform excessively large batch
/// operation."); Levee has the same bound (configurable), a bound on partitions per topic, and one on the
/// partition replicas a broker hosts, so that no single request can stall the metadata quorum or give a
/// broker more logs than it can open.
/// </summary>
/// <param name="MaxRecordsPerUserOp">controller.max.records.per.user.op: metadata records one request may write.</param>
/// <param name="MaxPartitionsPerTopic">max.partitions.per.topic.</param>
/// <param name="BrokerCapacityPartitions">broker.capacity.partitions: partition replicas one broker may host.</param>
public sealed record AdminLimits(int MaxRecordsPerUserOp = 10_000, int MaxPartitionsPerTopic = 10_000, int BrokerCapacityPartitions = 50_000)
{
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

    /// <summary>Refuses new replicas that would take any broker over <see cref="BrokerCapacityPartitions"/>, or null.</summary>
    public Decision? CheckBrokerCapacity(MetadataImage image, IEnumerable<IEnumerable<int>> newReplicas, string topic)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(newReplicas);
        var added = new Dictionary<int, int>();
        foreach (var replica in newReplicas.SelectMany(r => r))
        {
            added[replica] = added.GetValueOrDefault(replica) + 1;
        }

        var hosted = new Dictionary<int, int>();
        foreach (var partition in image.TopicsById.Values.SelectMany(t => t.Partitions.Values))
        {
            foreach (var replica in partition.Replicas)
            {
                if (added.ContainsKey(replica))
                {
                    hosted[replica] = hosted.GetValueOrDefault(replica) + 1;
                }
            }
        }

        foreach (var (broker, count) in added.OrderBy(a => a.Key))
        {
            var total = hosted.GetValueOrDefault(broker) + count;
            if (total > BrokerCapacityPartitions)
            {
                return Decision.Fail(Protocol.ErrorCode.PolicyViolation, $"Placing '{topic}' would give broker {broker} {total} partition replicas ({hosted.GetValueOrDefault(broker)} now + {count}); a broker hosts at most {BrokerCapacityPartitions} (broker.capacity.partitions).");
            }
        }

        return null;
    }
}
