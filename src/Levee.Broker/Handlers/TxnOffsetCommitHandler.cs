using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// TxnOffsetCommit (v0-v5, KIP-98; v3+ names the member, KIP-447): writes a transaction's consumed offsets to the
/// group's __consumer_offsets partition, where they stay pending until the transaction's marker. Kafka 4.0 advertises
/// v5, which is v4 on the wire (KIP-890 only changes what a v5 client may skip), so v5 is read and written as v4.
/// </summary>
[AuthorizePerResource(AclOperation.Write, AclResourceType.TransactionalId)]
[AuthorizePerResource(AclOperation.Read, AclResourceType.Group)]
[AuthorizePerResource(AclOperation.Read, AclResourceType.Topic)]
public sealed class TxnOffsetCommitHandler(GroupCoordinator coordinator, TransactionCoordinator transactions, RequestAuthorizer authorizer) : ApiHandler<TxnOffsetCommitRequest, TxnOffsetCommitResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.TxnOffsetCommit;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 5;

    /// <inheritdoc />
    protected override TxnOffsetCommitRequest Read(ref KafkaReader reader, short version) =>
        TxnOffsetCommitRequest.Read(ref reader, Math.Min(version, TxnOffsetCommitRequest.HighestVersion));

    /// <inheritdoc />
    protected override void Write(TxnOffsetCommitResponse response, ref KafkaWriter writer, short version) =>
        response.Write(ref writer, Math.Min(version, TxnOffsetCommitResponse.HighestVersion));

    /// <inheritdoc />
    protected override async ValueTask<TxnOffsetCommitResponse?> HandleAsync(RequestContext context, TxnOffsetCommitRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);

        // Kafka's order: WRITE on the transactional id, READ on the group (each fails the whole request), then READ on
        // each topic: a denied topic's partitions are answered TOPIC_AUTHORIZATION_FAILED, the rest committed.
        if (!authorizer.Authorize(context, AclOperation.Write, AclResourceType.TransactionalId, request.TransactionalId))
        {
            return ErrorResponse(request, ErrorCode.TransactionalIdAuthorizationFailed, null);
        }

        if (!authorizer.Authorize(context, AclOperation.Read, AclResourceType.Group, request.GroupId))
        {
            return ErrorResponse(request, ErrorCode.GroupAuthorizationFailed, null);
        }

        var readable = authorizer.Authorized(context, AclOperation.Read, AclResourceType.Topic, request.Topics.Select(t => t.Name));
        var denied = request.Topics.Where(t => !readable.Contains(t.Name)).ToList();
        request.Topics.RemoveAll(denied.Contains);
        var refused = await VerifyAsync(request, context.Aborted).ConfigureAwait(false);
        var response = refused == ErrorCode.None
            ? await coordinator.CommitTransactionalOffsetsAsync(request, context.Aborted).ConfigureAwait(false)
            : new TxnOffsetCommitResponse { Topics = Errors(request.Topics, refused) };
        if (denied.Count > 0)
        {
            response.Topics.AddRange(Errors(denied, ErrorCode.TopicAuthorizationFailed));
        }

        return response;
    }

    /// <summary>
    /// KIP-890 (on by default in Kafka 3.6+): the producer's first transactional write to the group's partition is checked
    /// with the transaction coordinator, so offsets of a producer that skipped AddOffsetsToTxn never open a hanging
    /// transaction. The error for the whole request, or NONE.
    /// </summary>
    private async Task<ErrorCode> VerifyAsync(TxnOffsetCommitRequest request, CancellationToken cancellationToken)
    {
        if (!transactions.VerificationEnabled)
        {
            return ErrorCode.None;
        }

        // The first use of __consumer_offsets creates it, as the commit would.
        if (!await coordinator.TryEnsureOffsetsTopicAsync(cancellationToken).ConfigureAwait(false))
        {
            return ErrorCode.CoordinatorNotAvailable;
        }

        if (coordinator.PartitionToVerify(request.GroupId, request.ProducerId) is not { } partition)
        {
            return ErrorCode.None;
        }

        var verified = await transactions.VerifyAnywhereAsync(request.TransactionalId, request.ProducerId, request.ProducerEpoch, partition, cancellationToken).ConfigureAwait(false);
        return verified switch
        {
            ErrorCode.None => ErrorCode.None,
            ErrorCode.InvalidTxnState or ErrorCode.TransactionAbortable or ErrorCode.InvalidProducerIdMapping => ErrorCode.InvalidTxnState,
            ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch => ErrorCode.InvalidProducerEpoch,
            _ => ErrorCode.CoordinatorNotAvailable,
        };
    }

    /// <inheritdoc />
    protected override TxnOffsetCommitResponse? ErrorResponse(TxnOffsetCommitRequest request, ErrorCode error, string? message) =>
        new() { Topics = Errors(request.Topics, error) };

    private static List<TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic> Errors(IEnumerable<TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic> topics, ErrorCode error) =>
    [
        .. topics.Select(t => new TxnOffsetCommitResponse.TxnOffsetCommitResponseTopic
        {
            Name = t.Name,
            Partitions = [.. t.Partitions.Select(p => new TxnOffsetCommitResponse.TxnOffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex, ErrorCode = (short)error })],
        }),
    ];
}
