using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>Heartbeat (v0-v4): keeps a member alive; REBALANCE_IN_PROGRESS asks it to rejoin.</summary>
[AuthorizePerResource(AclOperation.Read, AclResourceType.Group)]
public sealed class HeartbeatHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<HeartbeatRequest, HeartbeatResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.Heartbeat;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 4;

    /// <inheritdoc />
    protected override HeartbeatRequest Read(ref KafkaReader reader, short version) => HeartbeatRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(HeartbeatResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<HeartbeatResponse?> HandleAsync(RequestContext context, HeartbeatRequest request) =>
        ValueTask.FromResult<HeartbeatResponse?>(new HeartbeatResponse
        {
            ErrorCode = (short)(authorizer.Authorize(context, AclOperation.Read, AclResourceType.Group, request.GroupId) ? coordinator.Heartbeat(request) : ErrorCode.GroupAuthorizationFailed),
        });

    /// <inheritdoc />
    protected override HeartbeatResponse? ErrorResponse(HeartbeatRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
