using Levee.Broker.Groups;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Groups;

/// <summary>Raw TxnOffsetCommit and OffsetFetch requests, and transaction markers written as the WriteTxnMarkers path writes them.</summary>
internal static class TransactionalOffsetSupport
{
    /// <summary>TxnOffsetCommit of one partition; the partition's error.</summary>
    public static async Task<ErrorCode> TxnCommitAsync(
        this RawKafkaClient client,
        string transactionalId,
        string group,
        long producerId,
        short producerEpoch,
        string topic,
        int partition,
        long offset,
        short version = 3,
        int generation = -1,
        string memberId = "",
        string? groupInstanceId = null)
    {
        var response = await client.CallAsync<TxnOffsetCommitResponse>(ApiKey.TxnOffsetCommit, version, new TxnOffsetCommitRequest
        {
            TransactionalId = transactionalId,
            GroupId = group,
            ProducerId = producerId,
            ProducerEpoch = producerEpoch,
            GenerationId = generation,
            MemberId = memberId,
            GroupInstanceId = groupInstanceId,
            Topics = [new TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic { Name = topic, Partitions = [new TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition { PartitionIndex = partition, CommittedOffset = offset, CommittedMetadata = "txn" }] }],
        });
        return (ErrorCode)response.Topics.Single().Partitions.Single().ErrorCode;
    }

    /// <summary>
    /// OffsetFetch v8 of one partition, with or without require_stable: (partition error, committed offset). Asked again
    /// while the coordinator is loading (after a restart), as clients do.
    /// </summary>
    public static async Task<(ErrorCode Error, long Offset)> FetchAsync(this RawKafkaClient client, string group, string topic, int partition, bool requireStable)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        OffsetFetchResponse.OffsetFetchResponseGroup g;
        while (true)
        {
            var response = await client.CallAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 8, new OffsetFetchRequest
            {
                RequireStable = requireStable,
                Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = [new OffsetFetchRequest.OffsetFetchRequestTopics { Name = topic, PartitionIndexes = [partition] }] }],
            });
            g = response.Groups.Single();
            if (g.ErrorCode != (short)ErrorCode.CoordinatorLoadInProgress || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal(0, g.ErrorCode);
        var p = g.Topics.Single().Partitions.Single();
        return ((ErrorCode)p.ErrorCode, p.CommittedOffset);
    }

    /// <summary>
    /// What the transaction coordinator's WriteTxnMarkers path does for the group's __consumer_offsets partition: appends
    /// the producer's COMMIT or ABORT control batch as leader, then tells the group coordinator.
    /// </summary>
    public static void WriteMarker(TestBroker broker, string group, long producerId, short producerEpoch, bool commit, int offsetsPartitions = 3)
    {
        var index = GroupCoordinator.PartitionFor(group, offsetsPartitions);
        Assert.True(broker.Broker.Replicas.TryGetPartition(GroupCoordinator.OffsetsTopic, index, out var partition));
        partition.AppendMarker(producerId, producerEpoch, commit, coordinatorEpoch: 0);
        broker.Broker.Groups.CompleteTransaction(index, producerId, commit);
    }
}
