using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>JoinGroup (v0-v9): joins a classic group; see GroupCoordinator.JoinGroupAsync.</summary>
[AuthorizePerResource(AclOperation.Read, AclResourceType.Group)]
public sealed class JoinGroupHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<JoinGroupRequest, JoinGroupResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.JoinGroup;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 9;

    /// <inheritdoc />
    protected override JoinGroupRequest Read(ref KafkaReader reader, short version) => JoinGroupRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(JoinGroupResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<JoinGroupResponse?> HandleAsync(RequestContext context, JoinGroupRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!authorizer.Authorize(context, AclOperation.Read, AclResourceType.Group, request.GroupId))
        {
            return ErrorResponse(request, ErrorCode.GroupAuthorizationFailed, null);
        }

        // A join waits for the rebalance, on the group's other members: not this request's own time.
        JoinGroupResponse response;
        using (context.Waiting())
        {
            response = await coordinator.JoinGroupAsync(request, context.ApiVersion, context.ClientId ?? "", GroupHandlers.ClientHost(context), context.Aborted).ConfigureAwait(false);
        }

        // Protocol name and type are nullable only from v7 (KIP-559).
        if (context.ApiVersion < 7)
        {
            response.ProtocolName ??= "";
        }

        return response;
    }

    /// <inheritdoc />
    protected override JoinGroupResponse? ErrorResponse(JoinGroupRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, GenerationId = -1 };
}
