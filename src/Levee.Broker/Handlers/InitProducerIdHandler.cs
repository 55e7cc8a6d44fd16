using Levee.Broker.Producers;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// InitProducerId (v0-v5, what Kafka 4.0 advertises). For idempotent producers: a producer id from
/// <see cref="ProducerIdManager"/> (blocks allocated by the controller, unique cluster-wide) with epoch 0, or, when a
/// v3+ request names the id and epoch the producer holds, the same id with the epoch bumped (KIP-360). With a
/// transactional id: the <see cref="TransactionCoordinator"/> of that id answers (NOT_COORDINATOR elsewhere), and
/// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v4, as Kafka answers older clients.
/// </summary>
[AuthorizePerResource(AclOperation.IdempotentWrite, AclResourceType.Cluster)]
[AuthorizePerResource(AclOperation.Write, AclResourceType.TransactionalId)]
public sealed class InitProducerIdHandler(ProducerIdManager producerIds, TransactionCoordinator transactions, RequestAuthorizer authorizer) : ApiHandler<InitProducerIdRequest, InitProducerIdResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.InitProducerId;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 5;

    /// <inheritdoc />
    protected override InitProducerIdRequest Read(ref KafkaReader reader, short version) => InitProducerIdRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(InitProducerIdResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<InitProducerIdResponse?> HandleAsync(RequestContext context, InitProducerIdRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);

        // Kafka's checks: WRITE on the transactional id; for an idempotent producer IDEMPOTENT_WRITE on the cluster
        // or WRITE on some topic (KIP-679).
        if (request.TransactionalId is { } transactionalId && !authorizer.Authorize(context, AclOperation.Write, AclResourceType.TransactionalId, transactionalId))
        {
            return ErrorResponse(request, ErrorCode.TransactionalIdAuthorizationFailed, null);
        }

        if (request.TransactionalId is null && !authorizer.AuthorizeCluster(context, AclOperation.IdempotentWrite) && !authorizer.AuthorizeAny(context, AclOperation.Write, AclResourceType.Topic))
        {
            return ErrorResponse(request, ErrorCode.ClusterAuthorizationFailed, null);
        }

        if (request.TransactionalId is { } id)
        {
            var (txnError, txnProducerId, txnEpoch) = await transactions.InitProducerIdAsync(id, request.TransactionTimeoutMs, request.ProducerId, request.ProducerEpoch, context.Aborted).ConfigureAwait(false);
            if (txnError == ErrorCode.ProducerFenced && context.ApiVersion < 4)
            {
                txnError = ErrorCode.InvalidProducerEpoch;
            }

            return new InitProducerIdResponse { ErrorCode = (short)txnError, ProducerId = txnProducerId, ProducerEpoch = txnEpoch };
        }

        var (error, producerId, epoch) = await producerIds.InitProducerAsync(request.ProducerId, request.ProducerEpoch, context.Aborted).ConfigureAwait(false);
        return new InitProducerIdResponse { ErrorCode = (short)error, ProducerId = producerId, ProducerEpoch = epoch };
    }

    /// <inheritdoc />
    protected override InitProducerIdResponse? ErrorResponse(InitProducerIdRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ProducerId = -1, ProducerEpoch = -1 };
}
