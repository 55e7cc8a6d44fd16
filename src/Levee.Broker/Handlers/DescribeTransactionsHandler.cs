using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeTransactions (v0, KIP-664): the state of transactional ids coordinated by this broker (admin clients
/// ask each id's coordinator). DESCRIBE on each id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); the partitions of its
/// transaction are listed for the topics the principal may DESCRIBE, as Kafka filters them.
/// </summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.TransactionalId)]
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Topic)]
public sealed class DescribeTransactionsHandler(TransactionCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<DescribeTransactionsRequest, DescribeTransactionsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeTransactions;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override DescribeTransactionsRequest Read(ref KafkaReader reader, short version) => DescribeTransactionsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeTransactionsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeTransactionsResponse?> HandleAsync(RequestContext context, DescribeTransactionsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = new DescribeTransactionsResponse();
        foreach (var id in request.TransactionalIds)
        {
            var data = new DescribeTransactionsResponse.TransactionStateData { TransactionalId = id, TransactionState = "", ProducerId = -1, ProducerEpoch = -1, TransactionStartTimeMs = -1 };
            response.TransactionStates.Add(data);
            if (!authorizer.Authorize(context, AclOperation.Describe, AclResourceType.TransactionalId, id))
            {
                data.ErrorCode = (short)ErrorCode.TransactionalIdAuthorizationFailed;
                continue;
            }

            var (error, state) = coordinator.Describe(id);
            data.ErrorCode = (short)error;
            if (state is null)
            {
                continue;
            }

            data.TransactionState = state.State.Name();
            data.TransactionTimeoutMs = state.TimeoutMs;
            data.TransactionStartTimeMs = state.StartMs;
            data.ProducerId = state.ProducerId;
            data.ProducerEpoch = state.ProducerEpoch;
            var describable = authorizer.Authorized(context, AclOperation.Describe, AclResourceType.Topic, state.Partitions.Select(p => p.Topic).Distinct());
            foreach (var topic in state.Partitions.Where(p => describable.Contains(p.Topic)).GroupBy(p => p.Topic, StringComparer.Ordinal).OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                data.Topics.Add(new DescribeTransactionsResponse.TopicData { Topic = topic.Key, Partitions = [.. topic.Select(p => p.Partition).Order()] });
            }
        }

        return ValueTask.FromResult<DescribeTransactionsResponse?>(response);
    }

    /// <inheritdoc />
    protected override DescribeTransactionsResponse? ErrorResponse(DescribeTransactionsRequest request, ErrorCode error, string? message) =>
        new()
        {
            TransactionStates = [.. request.TransactionalIds.Select(id => new DescribeTransactionsResponse.TransactionStateData { TransactionalId = id, ErrorCode = (short)error, TransactionState = "", ProducerId = -1, ProducerEpoch = -1, TransactionStartTimeMs = -1 })],
        };
}
