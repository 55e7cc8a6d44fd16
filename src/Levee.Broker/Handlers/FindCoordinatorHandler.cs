using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// FindCoordinator (v0-v6): this broker coordinates every group and transactional id (it leads every partition
/// of the internal topics). v4+ answers a batch of keys (KIP-699). Asking for a group coordinator creates
/// __consumer_offsets on first use, as Kafka does.
/// </summary>
public sealed class FindCoordinatorHandler(GroupCoordinator coordinator, BrokerIdentity identity) : ApiHandler<FindCoordinatorRequest, FindCoordinatorResponse>
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
                var (error, message) = await LocateAsync(request.KeyType, key, context.Aborted).ConfigureAwait(false);
                response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
                {
                    Key = key,
                    ErrorCode = (short)error,
                    ErrorMessage = message,
                    NodeId = error == ErrorCode.None ? identity.NodeId : -1,
                    Host = error == ErrorCode.None ? identity.Host : "",
                    Port = error == ErrorCode.None ? identity.Port : -1,
                });
            }
        }
        else
        {
            var (error, message) = await LocateAsync(request.KeyType, request.Key, context.Aborted).ConfigureAwait(false);
            response.ErrorCode = (short)error;
            response.ErrorMessage = message;
            response.NodeId = error == ErrorCode.None ? identity.NodeId : -1;
            response.Host = error == ErrorCode.None ? identity.Host : "";
            response.Port = error == ErrorCode.None ? identity.Port : -1;
        }

        return response;
    }

    private async ValueTask<(ErrorCode Error, string? Message)> LocateAsync(sbyte keyType, string key, CancellationToken cancellationToken)
    {
        switch (keyType)
        {
            case GroupKeyType:
                return await coordinator.TryEnsureOffsetsTopicAsync(cancellationToken).ConfigureAwait(false)
                    ? (ErrorCode.None, null)
                    : (ErrorCode.CoordinatorNotAvailable, ErrorCode.CoordinatorNotAvailable.ToString());
            case TransactionKeyType:
                // Transactions are not served yet: Kafka's answer while its transaction log is unavailable.
                return key.Length == 0
                    ? (ErrorCode.InvalidRequest, "Transactional id must not be empty.")
                    : (ErrorCode.CoordinatorNotAvailable, "Transactions are not supported by this broker yet.");
            default:
                return (ErrorCode.InvalidRequest, $"Unsupported coordinator key type {keyType}.");
        }
    }
}
