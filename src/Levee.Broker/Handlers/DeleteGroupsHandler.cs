using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>DeleteGroups (v0-v2): deletes empty groups with their offsets.</summary>
[AuthorizePerResource(AclOperation.Delete, AclResourceType.Group)]
public sealed class DeleteGroupsHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<DeleteGroupsRequest, DeleteGroupsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DeleteGroups;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 2;

    /// <inheritdoc />
    protected override DeleteGroupsRequest Read(ref KafkaReader reader, short version) => DeleteGroupsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DeleteGroupsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<DeleteGroupsResponse?> HandleAsync(RequestContext context, DeleteGroupsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var response = new DeleteGroupsResponse();
        foreach (var groupId in request.GroupsNames)
        {
            var error = authorizer.Authorize(context, AclOperation.Delete, AclResourceType.Group, groupId)
                ? await coordinator.DeleteGroupAsync(groupId, context.Aborted).ConfigureAwait(false)
                : ErrorCode.GroupAuthorizationFailed;
            response.Results.Add(new DeleteGroupsResponse.DeletableGroupResult { GroupId = groupId, ErrorCode = (short)error });
        }

        return response;
    }

    /// <inheritdoc />
    protected override DeleteGroupsResponse? ErrorResponse(DeleteGroupsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Results = [.. request.GroupsNames.Select(g => new DeleteGroupsResponse.DeletableGroupResult { GroupId = g, ErrorCode = (short)error })],
        };
}
