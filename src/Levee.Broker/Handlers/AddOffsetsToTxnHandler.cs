using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// AddOffsetsToTxn (v0-v4): a transactional producer about to commit a group's offsets in its transaction
/// (sendOffsetsToTransaction) adds the group's __consumer_offsets partition to it, so that the transaction's marker
/// reaches the group coordinator. WRITE on the transactional id and READ on the group, as Kafka checks.
/// </summary>
[AuthorizePerResource(AclOperation.Write, AclResourceType.TransactionalId)]
[AuthorizePerResource(AclOperation.Read, AclResourceType.Group)]
public sealed class AddOffsetsToTxnHandler(TransactionCoordinator coordinator, GroupCoordinator groups, RequestAuthorizer authorizer) : ApiHandler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AddOffsetsToTxn;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 4;

    /// <inheritdoc />
    protected override AddOffsetsToTxnRequest Read(ref KafkaReader reader, short version) => AddOffsetsToTxnRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AddOffsetsToTxnResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<AddOffsetsToTxnResponse?> HandleAsync(RequestContext context, AddOffsetsToTxnRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!authorizer.Authorize(context, AclOperation.Write, AclResourceType.TransactionalId, request.TransactionalId))
        {
            return Answer(ErrorCode.TransactionalIdAuthorizationFailed);
        }

        if (!authorizer.Authorize(context, AclOperation.Read, AclResourceType.Group, request.GroupId))
        {
            return Answer(ErrorCode.GroupAuthorizationFailed);
        }

        if (!await groups.TryEnsureOffsetsTopicAsync(context.Aborted).ConfigureAwait(false) || coordinator.OffsetsPartitionFor(request.GroupId) is not { } partition)
        {
            return Answer(ErrorCode.CoordinatorNotAvailable);
        }

        var error = await coordinator.AddPartitionsAsync(request.TransactionalId, request.ProducerId, request.ProducerEpoch, [partition]).ConfigureAwait(false);
        return Answer(error == ErrorCode.ProducerFenced && context.ApiVersion < 2 ? ErrorCode.InvalidProducerEpoch : error);
    }

    private static AddOffsetsToTxnResponse Answer(ErrorCode error) => new() { ErrorCode = (short)error };

    /// <inheritdoc />
    protected override AddOffsetsToTxnResponse? ErrorResponse(AddOffsetsToTxnRequest request, ErrorCode error, string? message) => Answer(error);
}
