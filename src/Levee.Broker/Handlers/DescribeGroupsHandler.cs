using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>DescribeGroups (v0-v5): state, protocol and members of each group; an unknown group is reported Dead.</summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Group)]
public sealed class DescribeGroupsHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<DescribeGroupsRequest, DescribeGroupsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeGroups;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 5;

    /// <inheritdoc />
    protected override DescribeGroupsRequest Read(ref KafkaReader reader, short version) => DescribeGroupsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeGroupsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeGroupsResponse?> HandleAsync(RequestContext context, DescribeGroupsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new DescribeGroupsResponse();
        foreach (var groupId in request.Groups)
        {
            response.Groups.Add(authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Group, groupId)
                ? coordinator.Describe(groupId, request.IncludeAuthorizedOperations ? authorizer.AuthorizedOperations(context, AclResourceType.Group, groupId) : int.MinValue)
                : new DescribeGroupsResponse.DescribedGroup { GroupId = groupId, ErrorCode = (short)ErrorCode.GroupAuthorizationFailed });
        }

        return ValueTask.FromResult<DescribeGroupsResponse?>(response);
    }

    /// <inheritdoc />
    protected override DescribeGroupsResponse? ErrorResponse(DescribeGroupsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Groups = [.. request.Groups.Select(g => new DescribeGroupsResponse.DescribedGroup { GroupId = g, ErrorCode = (short)error })],
        };
}
