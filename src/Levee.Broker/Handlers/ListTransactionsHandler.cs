using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// ListTransactions (v0-v1, KIP-664): the transactional ids this broker coordinates that the principal may
/// DESCRIBE, filtered by state names, producer ids and (v1) a minimum running time, as Kafka filters them. An
/// unknown state name is echoed in <c>unknown_state_filters</c> and matches nothing.
/// </summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.TransactionalId)]
public sealed class ListTransactionsHandler(TransactionCoordinator coordinator, RequestAuthorizer authorizer, TimeProvider time) : ApiHandler<ListTransactionsRequest, ListTransactionsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.ListTransactions;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override ListTransactionsRequest Read(ref KafkaReader reader, short version) => ListTransactionsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(ListTransactionsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<ListTransactionsResponse?> HandleAsync(RequestContext context, ListTransactionsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = new ListTransactionsResponse();
        var states = new HashSet<TransactionState>();
        foreach (var name in request.StateFilters)
        {
            if (TransactionStates.TryParse(name, out var state))
            {
                states.Add(state);
            }
            else
            {
                response.UnknownStateFilters.Add(name);
            }
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var producerIds = request.ProducerIdFilters.ToHashSet();
        var listed = coordinator.List();
        var describable = authorizer.Authorized(context, AclOperation.Describe, AclResourceType.TransactionalId, listed.Select(t => t.TransactionalId));
        foreach (var (id, state) in listed)
        {
            var wanted = describable.Contains(id) &&
                (request.StateFilters.Count == 0 || states.Contains(state.State)) &&
                (producerIds.Count == 0 || producerIds.Contains(state.ProducerId)) &&
                (request.DurationFilter < 0 || (state.State == TransactionState.Ongoing && now - state.StartMs >= request.DurationFilter));
            if (wanted)
            {
                response.TransactionStates.Add(new ListTransactionsResponse.TransactionStateData { TransactionalId = id, ProducerId = state.ProducerId, TransactionState = state.State.Name() });
            }
        }

        return ValueTask.FromResult<ListTransactionsResponse?>(response);
    }

    /// <inheritdoc />
    protected override ListTransactionsResponse? ErrorResponse(ListTransactionsRequest request, ErrorCode error, string? message) => new() { ErrorCode = (short)error };
}
