using Levee.Broker.Partitions;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Levee.Storage;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    /// <summary>
    /// KIP-890's check before a TxnOffsetCommit: the group's __consumer_offsets partition, when this broker leads it and
    /// the producer has no transaction open on it yet, so that the transaction coordinator must confirm the partition
    /// is in the producer's ongoing transaction (AddOffsetsToTxn added it) before anything is written. Null when no
    /// confirmation is needed (the transaction is already open there, or another broker coordinates the group and
    /// answers NOT_COORDINATOR).
    /// </summary>
    public TopicPartition? PartitionToVerify(string groupId, long producerId)
    {
        ArgumentNullException.ThrowIfNull(groupId);
        if (producerId < 0 || !_replicas.Topics.TryGet(OffsetsTopic, out var topic))
        {
            return null;
        }

        var index = PartitionFor(groupId, topic.PartitionCount);
        return _replicas.TryGetPartition(OffsetsTopic, index, out var partition) && partition.IsLeader && !partition.Log.HasOpenTransaction(producerId)
            ? new TopicPartition(OffsetsTopic, index)
            : null;
    }

    /// <summary>
    /// TxnOffsetCommit (KIP-98): writes the offsets to the group's __consumer_offsets partition as one transactional
    /// batch of the request's producer id and epoch, and holds them as pending for that producer: OffsetFetch does not
    /// show them until the producer's COMMIT marker is written there (<see cref="CompleteTransaction"/>), and an ABORT
    /// marker drops them. v3+ names the member (KIP-447), checked as Kafka checks it; a group that does not exist is
    /// created empty when the request names no generation. Answered once the ISR has the batch.
    /// </summary>
    public async ValueTask<TxnOffsetCommitResponse> CommitTransactionalOffsetsAsync(TxnOffsetCommitRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new TxnOffsetCommitResponse();
        var commits = new List<OffsetToCommit>();
        foreach (var topic in request.Topics)
        {
            var topicResponse = new TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic { Name = topic.Name };
            response.Topics.Add(topicResponse);
            foreach (var p in topic.Partitions)
            {
                var result = new TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex };
                topicResponse.Partitions.Add(result);
                AddCommit(commits, new TopicPartition(topic.Name, p.PartitionIndex), p.CommittedOffset, p.CommittedLeaderEpoch, p.CommittedMetadata, e => result.ErrorCode = (short)e);
            }
        }

        if (string.IsNullOrEmpty(request.GroupId))
        {
            Answer(commits, ErrorCode.InvalidGroupId);
            return response;
        }

        // A transactional batch needs a producer: without one no marker would ever end it.
        if (request.ProducerId < 0 || request.ProducerEpoch < 0)
        {
            Answer(commits, ErrorCode.InvalidProducerIdMapping);
            return response;
        }

        // As Kafka's coordinator: a transactional batch with the producer's id and epoch and no sequence; the log checks
        // the epoch of such a coordinator append (a fenced producer is refused), not the sequence.
        var options = new RecordBatchOptions { ProducerId = request.ProducerId, ProducerEpoch = request.ProducerEpoch, IsTransactional = true };
        await CommitAsync(
            request.GroupId,
            request.GenerationId,
            commits,
            (group, _) => ValidateTransactionalCommit(group, request),
            retentionMs: null,
            options,
            (group, offsets) =>
            {
                if (!group.PendingTransactionalOffsets.TryGetValue(request.ProducerId, out var pending))
                {
                    group.PendingTransactionalOffsets[request.ProducerId] = pending = [];
                }

                foreach (var (tp, offset) in offsets)
                {
                    pending[tp] = offset;
                }

                group.Owner.AddOpenTransaction(request.ProducerId, group);
            },
            cancellationToken).ConfigureAwait(false);
        return response;
    }

    /// <summary>
    /// Ends a transaction's offsets: called by the WriteTxnMarkers path after a COMMIT (<paramref name="commit"/>
    /// true) or ABORT control batch of <paramref name="producerId"/> was appended to
    /// __consumer_offsets-<paramref name="offsetsPartition"/> by this broker as its leader. On commit the producer's
    /// pending offsets in every group of that partition become the committed ones (a commit written later in the log
    /// keeps its place, as Kafka orders commits by log offset); on abort they are dropped. A partition this broker no
    /// longer leads is left to its new leader, which reads the marker when it loads; one still loading applies it
    /// when the load ends.
    /// </summary>
    public void CompleteTransaction(int offsetsPartition, long producerId, bool commit)
    {
        OwnedPartition? owned;
        lock (_ownershipLock)
        {
            if (!_owned.TryGetValue(offsetsPartition, out owned))
            {
                LogTransactionCompletedElsewhere(producerId, offsetsPartition);
                return;
            }

            if (!owned.IsLoaded)
            {
                owned.DeferCompletion(producerId, commit);
                return;
            }
        }

        if (_replicas.TryGetPartition(OffsetsTopic, offsetsPartition, out var partition))
        {
            CompleteOpenTransaction(owned, partition, producerId, commit);
        }
    }

    /// <summary>
    /// Applies a marker to the groups of <paramref name="owned"/> holding offsets of the producer's transaction. A
    /// committed offset is served only once the ISR has the marker: the groups' written end moves past it.
    /// </summary>
    private void CompleteOpenTransaction(OwnedPartition owned, Partition partition, long producerId, bool commit)
    {
        // The producer cannot have started its next transaction's offsets here yet: the transaction coordinator refuses
        // AddOffsetsToTxn (CONCURRENT_TRANSACTIONS) until every marker of this one is written and completed.
        var markerEnd = partition.Log.LogEndOffset;
        foreach (var group in owned.TakeOpenTransaction(producerId))
        {
            lock (group.Sync)
            {
                if (group.Owner != owned || group.State == GroupState.Dead || !group.CompletePendingTransaction(producerId, commit))
                {
                    continue;
                }

                if (commit)
                {
                    group.WrittenEnd = Math.Max(group.WrittenEnd, markerEnd);
                }

                LogTransactionCompleted(group.GroupId, producerId, commit ? "committed" : "aborted");
            }
        }
    }

    /// <summary>
    /// Kafka's checks of a TxnOffsetCommit against the group: no generation on an empty group is a "simple" commit; a
    /// request naming a member, generation or instance id must be that member (FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID) in
    /// the group's generation (ILLEGAL_GENERATION); one naming nothing (v0-v2) is accepted. Unlike OffsetCommit, a
    /// rebalance in progress does not refuse it.
    /// </summary>
    private static ErrorCode ValidateTransactionalCommit(Group group, TxnOffsetCommitRequest request)
    {
        if (group.Consumer is { } consumer)
        {
            // KIP-848: the generation is the member's epoch; a stale one is ILLEGAL_GENERATION here, which
            // TxnOffsetCommit's clients know (STALE_MEMBER_EPOCH is OffsetCommit's).
            var error = ValidateConsumerMemberEpoch(consumer, request.MemberId.Length > 0 ? request.MemberId : null, request.GenerationId, adminAllowed: consumer.Members.Count == 0);
            return error == ErrorCode.StaleMemberEpoch ? ErrorCode.IllegalGeneration : error;
        }

        if (request.GenerationId < 0 && group.State == GroupState.Empty)
        {
            return ErrorCode.None;
        }

        if (request.GenerationId >= 0 || request.MemberId.Length > 0 || request.GroupInstanceId is not null)
        {
            var member = ValidateMember(group, request.MemberId, request.GroupInstanceId);
            if (member != ErrorCode.None)
            {
                return member;
            }

            return request.GenerationId == group.GenerationId ? ErrorCode.None : ErrorCode.IllegalGeneration;
        }

        return ErrorCode.None;
    }

    [LoggerMessage(EventName = "TransactionCompleted", Level = LogLevel.Debug, Message = "Group {GroupId}: offsets of producer {ProducerId} {Outcome}")]
    private partial void LogTransactionCompleted(string groupId, long producerId, string outcome);

    [LoggerMessage(EventName = "TransactionCompletedElsewhere", Level = LogLevel.Information, Message = "Producer {ProducerId}: transaction marker on __consumer_offsets-{Partition}, which this broker no longer coordinates; its new leader reads the marker when it loads")]
    private partial void LogTransactionCompletedElsewhere(long producerId, int partition);
}
