using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// EndTxn (v0-v4): commits or aborts a transaction (WRITE on the transactional id). Answered once the coordinator
/// has written PrepareCommit/PrepareAbort; the markers follow. v5 (KIP-890's epoch bump per transaction) is not
/// advertised: clients use the classic protocol, which Kafka 4.0 keeps.
/// </summary>
[AuthorizePerResource(AclOperation.Write, AclResourceType.TransactionalId)]
public sealed class EndTxnHandler(TransactionCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<EndTxnRequest, EndTxnResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.EndTxn;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 4;

    /// <inheritdoc />
    protected override EndTxnRequest Read(ref KafkaReader reader, short version) => EndTxnRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(EndTxnResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<EndTxnResponse?> HandleAsync(RequestContext context, EndTxnRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!authorizer.Authorize(context, AclOperation.Write, AclResourceType.TransactionalId, request.TransactionalId))
        {
            return Answer(ErrorCode.TransactionalIdAuthorizationFailed);
        }

        var error = await coordinator.EndTransactionAsync(request.TransactionalId, request.ProducerId, request.ProducerEpoch, request.Committed).ConfigureAwait(false);
        return Answer(error == ErrorCode.ProducerFenced && context.ApiVersion < 2 ? ErrorCode.InvalidProducerEpoch : error);
    }

    private static EndTxnResponse Answer(ErrorCode error) => new() { ErrorCode = (short)error, ProducerId = -1, ProducerEpoch = -1 };

    /// <inheritdoc />
    protected override EndTxnResponse? ErrorResponse(EndTxnRequest request, ErrorCode error, string? message) => Answer(error);
}
