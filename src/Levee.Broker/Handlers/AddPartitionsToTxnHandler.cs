using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Storage;

namespace Levee.Broker.Handlers;

/// <summary>
/// AddPartitionsToTxn (v0-v5): a transactional producer adds partitions to its transaction before writing to them
/// (v0-v3, one transaction, from clients); brokers ask the coordinator, batched, whether partitions are in a
/// transaction (v4+, verify-only, KIP-890), which needs CLUSTER_ACTION.
/// </summary>
/// <remarks>
/// Kafka's checks, per partition, before anything is added: WRITE on the topic (TOPIC_AUTHORIZATION_FAILED), the
/// partition exists (UNKNOWN_TOPIC_OR_PARTITION); when any fails the others answer OPERATION_NOT_ATTEMPTED.
/// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2, and INVALID_TXN_STATE for a verification is
/// TRANSACTION_ABORTABLE from v5.
/// </remarks>
[AuthorizePerResource(AclOperation.Write, AclResourceType.TransactionalId)]
[AuthorizePerResource(AclOperation.Write, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.ClusterAction, AclResourceType.Cluster)]
public sealed class AddPartitionsToTxnHandler(TransactionCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AddPartitionsToTxn;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 5;

    /// <inheritdoc />
    protected override AddPartitionsToTxnRequest Read(ref KafkaReader reader, short version) => AddPartitionsToTxnRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AddPartitionsToTxnResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<AddPartitionsToTxnResponse?> HandleAsync(RequestContext context, AddPartitionsToTxnRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var version = context.ApiVersion;
        if (version < 4)
        {
            var results = await AddAsync(context, request.V3AndBelowTransactionalId, request.V3AndBelowProducerId, request.V3AndBelowProducerEpoch, request.V3AndBelowTopics, verifyOnly: false).ConfigureAwait(false);
            return new AddPartitionsToTxnResponse { ResultsByTopicV3AndBelow = results };
        }

        if (!authorizer.AuthorizeCluster(context, AclOperation.ClusterAction))
        {
            return new AddPartitionsToTxnResponse { ErrorCode = (short)ErrorCode.ClusterAuthorizationFailed };
        }

        var response = new AddPartitionsToTxnResponse();
        foreach (var transaction in request.Transactions)
        {
            var results = await AddAsync(context, transaction.TransactionalId, transaction.ProducerId, transaction.ProducerEpoch, transaction.Topics, transaction.VerifyOnly).ConfigureAwait(false);
            response.ResultsByTransaction.Add(new AddPartitionsToTxnResponse.AddPartitionsToTxnResult { TransactionalId = transaction.TransactionalId, TopicResults = results });
        }

        return response;
    }

    private async Task<List<AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult>> AddAsync(
        RequestContext context, string transactionalId, long producerId, short epoch, List<AddPartitionsToTxnRequest.AddPartitionsToTxnTopic> topics, bool verifyOnly)
    {
        var errors = new Dictionary<TopicPartition, ErrorCode>();
        var partitions = topics.SelectMany(t => t.Partitions.Select(p => new TopicPartition(t.Name, p))).Distinct().ToList();
        if (!verifyOnly && !authorizer.Authorize(context, AclOperation.Write, AclResourceType.TransactionalId, transactionalId))
        {
            return Results(topics, _ => ErrorCode.TransactionalIdAuthorizationFailed);
        }

        if (verifyOnly)
        {
            foreach (var partition in partitions)
            {
                var error = coordinator.Verify(transactionalId, producerId, epoch, partition);
                errors[partition] = error == ErrorCode.InvalidTxnState && context.ApiVersion >= 5 ? ErrorCode.TransactionAbortable : error;
            }

            return Results(topics, p => errors[p]);
        }

        var writable = authorizer.Authorized(context, AclOperation.Write, AclResourceType.Topic, topics.Select(t => t.Name));
        foreach (var partition in partitions)
        {
            if (!writable.Contains(partition.Topic))
            {
                errors[partition] = ErrorCode.TopicAuthorizationFailed;
            }
            else if (!coordinator.PartitionExists(partition))
            {
                errors[partition] = ErrorCode.UnknownTopicOrPartition;
            }
        }

        if (errors.Count > 0)
        {
            return Results(topics, p => errors.GetValueOrDefault(p, ErrorCode.OperationNotAttempted));
        }

        var result = await coordinator.AddPartitionsAsync(transactionalId, producerId, epoch, partitions).ConfigureAwait(false);
        if (result == ErrorCode.ProducerFenced && context.ApiVersion < 2)
        {
            result = ErrorCode.InvalidProducerEpoch;
        }

        return Results(topics, _ => result);
    }

    private static List<AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult> Results(List<AddPartitionsToTxnRequest.AddPartitionsToTxnTopic> topics, Func<TopicPartition, ErrorCode> error) =>
        [
            .. topics.Select(t => new AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult
            {
                Name = t.Name,
                ResultsByPartition = [.. t.Partitions.Select(p => new AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult { PartitionIndex = p, PartitionErrorCode = (short)error(new TopicPartition(t.Name, p)) })],
            }),
        ];

    /// <inheritdoc />
    protected override AddPartitionsToTxnResponse? ErrorResponse(AddPartitionsToTxnRequest request, ErrorCode error, string? message) =>
        new()
        {
            ErrorCode = (short)error,
            ResultsByTopicV3AndBelow = Results(request.V3AndBelowTopics, _ => error),
            ResultsByTransaction = [.. request.Transactions.Select(t => new AddPartitionsToTxnResponse.AddPartitionsToTxnResult { TransactionalId = t.TransactionalId, TopicResults = Results(t.Topics, _ => error) })],
        };
}
