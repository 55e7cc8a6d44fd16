using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// ConsumerGroupHeartbeat (v0-v1, KIP-848): the consumer group protocol's join, heartbeat and leave. READ on the
/// group, and DESCRIBE on every topic named in the subscription (TOPIC_AUTHORIZATION_FAILED otherwise), as Kafka.
/// </summary>
[AuthorizePerResource(AclOperation.Read, AclResourceType.Group)]
public sealed class ConsumerGroupHeartbeatHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.ConsumerGroupHeartbeat;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override ConsumerGroupHeartbeatRequest Read(ref KafkaReader reader, short version) => ConsumerGroupHeartbeatRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(ConsumerGroupHeartbeatResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<ConsumerGroupHeartbeatResponse?> HandleAsync(RequestContext context, ConsumerGroupHeartbeatRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        if (!authorizer.Authorize(context, AclOperation.Read, AclResourceType.Group, request.GroupId))
        {
            return ErrorResponse(request, ErrorCode.GroupAuthorizationFailed, null);
        }

        if (request.SubscribedTopicNames is { } topics && topics.Any(t => !authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, t)))
        {
            return ErrorResponse(request, ErrorCode.TopicAuthorizationFailed, null);
        }

        var prefix = context.Connection.Tenant?.Prefix ?? "";
        return await coordinator.ConsumerGroupHeartbeatAsync(request, context.ClientId ?? "", GroupHandlers.ClientHost(context), prefix, context.Aborted).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override ConsumerGroupHeartbeatResponse? ErrorResponse(ConsumerGroupHeartbeatRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message, MemberEpoch = -1 };
}
