using Levee.Broker.Producers;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// InitProducerId (v0-v5, what Kafka 4.0 advertises) for idempotent producers: a producer id from
/// <see cref="ProducerIdManager"/> (blocks allocated by the controller, unique cluster-wide) with epoch 0, or, when a v3+ request names the id and epoch the producer holds,
/// the same id with the epoch bumped (KIP-360).
/// </summary>
/// <remarks>
/// Transactions are not available yet. A request with a transactional id gets COORDINATOR_NOT_AVAILABLE, which is
/// what Kafka answers when its transaction coordinator cannot serve (the <c>__transaction_state</c> log is not
/// available). It is retriable: a transactional client keeps looking for a coordinator and fails its
/// initTransactions() with a timeout (max.block.ms), as it would against such a Kafka cluster.
/// </remarks>
[AuthorizePerResource(AclOperation.IdempotentWrite, AclResourceType.Cluster)]
[AuthorizePerResource(AclOperation.Write, AclResourceType.TransactionalId)]
public sealed class InitProducerIdHandler(ProducerIdManager producerIds, RequestAuthorizer authorizer) : ApiHandler<InitProducerIdRequest, InitProducerIdResponse>
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

        if (request.TransactionalId is not null)
        {
            return new InitProducerIdResponse
            {
                ErrorCode = (short)ErrorCode.CoordinatorNotAvailable,
                ProducerId = -1,
                ProducerEpoch = -1,
            };
        }

        var (error, producerId, epoch) = await producerIds.InitProducerAsync(request.ProducerId, request.ProducerEpoch, context.Aborted).ConfigureAwait(false);
        return new InitProducerIdResponse { ErrorCode = (short)error, ProducerId = producerId, ProducerEpoch = epoch };
    }

    /// <inheritdoc />
    protected override InitProducerIdResponse? ErrorResponse(InitProducerIdRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ProducerId = -1, ProducerEpoch = -1 };
}
