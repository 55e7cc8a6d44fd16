using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>SyncGroup (v0-v5): the leader hands out the assignment; members receive their share.</summary>
[AuthorizePerResource(AclOperation.Read, AclResourceType.Group)]
public sealed class SyncGroupHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<SyncGroupRequest, SyncGroupResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.SyncGroup;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 5;

    /// <inheritdoc />
    protected override SyncGroupRequest Read(ref KafkaReader reader, short version) => SyncGroupRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(SyncGroupResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<SyncGroupResponse?> HandleAsync(RequestContext context, SyncGroupRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!authorizer.Authorize(context, AclOperation.Read, AclResourceType.Group, request.GroupId))
        {
            return ErrorResponse(request, ErrorCode.GroupAuthorizationFailed, null);
        }

        // A follower's sync waits for the leader's assignment: not this request's own time.
        using (context.Waiting())
        {
            return await coordinator.SyncGroupAsync(request, context.Aborted).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    protected override SyncGroupResponse? ErrorResponse(SyncGroupRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
