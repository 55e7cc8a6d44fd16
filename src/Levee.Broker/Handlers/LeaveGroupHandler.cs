using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>LeaveGroup (v0-v5): members leave (v3+ in a batch, by member id or group.instance.id).</summary>
[AuthorizePerResource(AclOperation.Read, AclResourceType.Group)]
public sealed class LeaveGroupHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<LeaveGroupRequest, LeaveGroupResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.LeaveGroup;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 5;

    /// <inheritdoc />
    protected override LeaveGroupRequest Read(ref KafkaReader reader, short version) => LeaveGroupRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(LeaveGroupResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<LeaveGroupResponse?> HandleAsync(RequestContext context, LeaveGroupRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!authorizer.Authorize(context, AclOperation.Read, AclResourceType.Group, request.GroupId))
        {
            return ValueTask.FromResult(ErrorResponse(request, ErrorCode.GroupAuthorizationFailed, null));
        }

        var response = coordinator.LeaveGroup(request, context.ApiVersion);

        // Before v3 there is one member and its error is the response's error.
        if (context.ApiVersion < 3 && response.ErrorCode == 0 && response.Members.Count > 0)
        {
            response.ErrorCode = response.Members[0].ErrorCode;
        }

        return ValueTask.FromResult<LeaveGroupResponse?>(response);
    }

    /// <inheritdoc />
    protected override LeaveGroupResponse? ErrorResponse(LeaveGroupRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
