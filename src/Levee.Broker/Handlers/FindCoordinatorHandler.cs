using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// FindCoordinator (v0-v6): a group's coordinator is the broker leading its __consumer_offsets partition, named
/// with its advertised endpoint from the metadata image (COORDINATOR_NOT_AVAILABLE while that partition has no
/// leader); a transactional id's is the broker leading its __transaction_state partition. v4+ answers a batch of
/// keys (KIP-699). Asking for a coordinator creates __consumer_offsets or __transaction_state on first use, as Kafka
/// does.
/// </summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Group)]
[AuthorizePerResource(AclOperation.Describe, AclResourceType.TransactionalId)]
public sealed class FindCoordinatorHandler(GroupCoordinator coordinator, TransactionCoordinator transactions, RequestAuthorizer authorizer) : ApiHandler<FindCoordinatorRequest, FindCoordinatorResponse>
{
    private const sbyte GroupKeyType = 0;
    private const sbyte TransactionKeyType = 1;

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.FindCoordinator;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 6;

    /// <inheritdoc />
    protected override FindCoordinatorRequest Read(ref KafkaReader reader, short version) => FindCoordinatorRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(FindCoordinatorResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<FindCoordinatorResponse?> HandleAsync(RequestContext context, FindCoordinatorRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = new FindCoordinatorResponse();
        if (context.ApiVersion >= 4)
        {
            foreach (var key in request.CoordinatorKeys)
            {
                var (error, message, nodeId, host, port) = await LocateAsync(context, request.KeyType, key).ConfigureAwait(false);
                response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
                {
                    Key = key,
                    ErrorCode = (short)error,
                    ErrorMessage = message,
                    NodeId = nodeId,
                    Host = host,
                    Port = port,
                });
            }
        }
        else
        {
            var (error, message, nodeId, host, port) = await LocateAsync(context, request.KeyType, request.Key).ConfigureAwait(false);
            response.ErrorCode = (short)error;
            response.ErrorMessage = message;
            response.NodeId = nodeId;
            response.Host = host;
            response.Port = port;
        }

        return response;
    }

    private async ValueTask<(ErrorCode Error, string? Message, int NodeId, string Host, int Port)> LocateAsync(RequestContext context, sbyte keyType, string key)
    {
        switch (keyType)
        {
            case GroupKeyType when !authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Group, key):
                return (ErrorCode.GroupAuthorizationFailed, RequestAuthorizer.DeniedMessage, -1, "", -1);
            case TransactionKeyType when !authorizer.Authorize(context, AclOperation.Describe, AclResourceType.TransactionalId, key):
                return (ErrorCode.TransactionalIdAuthorizationFailed, RequestAuthorizer.DeniedMessage, -1, "", -1);
            case GroupKeyType:
                return await coordinator.TryEnsureOffsetsTopicAsync(context.Aborted).ConfigureAwait(false)
                    ? coordinator.FindCoordinator(key, context.Connection.Listener.Name)
                    : (ErrorCode.CoordinatorNotAvailable, ErrorCode.CoordinatorNotAvailable.ToString(), -1, "", -1);
            case TransactionKeyType when key.Length == 0:
                return (ErrorCode.InvalidRequest, "Transactional id must not be empty.", -1, "", -1);
            case TransactionKeyType:
                return await transactions.TryEnsureStateTopicAsync(context.Aborted).ConfigureAwait(false)
                    ? transactions.FindCoordinator(key, context.Connection.Listener.Name)
                    : (ErrorCode.CoordinatorNotAvailable, ErrorCode.CoordinatorNotAvailable.ToString(), -1, "", -1);
            default:
                return (ErrorCode.InvalidRequest, $"Unsupported coordinator key type {keyType}.", -1, "", -1);
        }
    }

    /// <inheritdoc />
    protected override void MapRequestNames(FindCoordinatorRequest request, TenantNamespace tenant)
    {
        // A coordinator key is a group id or a transactional id (KeyType): both live in the tenant's namespace, and
        // the coordinator is the one of the stored id.
        request.Key = tenant.ToStored(request.Key);
        for (var i = 0; i < request.CoordinatorKeys.Count; i++)
        {
            request.CoordinatorKeys[i] = tenant.ToStored(request.CoordinatorKeys[i]);
        }
    }

    /// <inheritdoc />
    protected override void MapResponseNames(FindCoordinatorResponse response, TenantNamespace tenant)
    {
        foreach (var coordinator in response.Coordinators)
        {
            coordinator.Key = tenant.ToTenant(coordinator.Key);
        }
    }

    /// <inheritdoc />
    protected override FindCoordinatorResponse? ErrorResponse(FindCoordinatorRequest request, ErrorCode error, string? message) =>
        new()
        {
            // Versions before 4 ask for one key and answer at the top level; later ones answer each key.
            ErrorCode = (short)error,
            ErrorMessage = message,
            NodeId = -1,
            Port = -1,
            Coordinators = [.. request.CoordinatorKeys.Select(k => new FindCoordinatorResponse.Coordinator { Key = k, NodeId = -1, Port = -1, ErrorCode = (short)error, ErrorMessage = message })],
        };
}
