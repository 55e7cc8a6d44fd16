using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>ListGroups (v0-v5): the groups, filtered by state (v4+) and type (v5+).</summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Group)]
public sealed class ListGroupsHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<ListGroupsRequest, ListGroupsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.ListGroups;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 5;

    /// <inheritdoc />
    protected override ListGroupsRequest Read(ref KafkaReader reader, short version) => ListGroupsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(ListGroupsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<ListGroupsResponse?> HandleAsync(RequestContext context, ListGroupsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (error, groups) = coordinator.ListGroups(request.StatesFilter, request.TypesFilter);

        // Kafka lists every group to a principal with DESCRIBE on the cluster, else only the groups it may describe.
        if (!authorizer.AuthorizeCluster(context, AclOperation.Describe))
        {
            groups.RemoveAll(g => !authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Group, g.GroupId));
        }

        var response = new ListGroupsResponse { ErrorCode = (short)error, Groups = groups };
        return ValueTask.FromResult<ListGroupsResponse?>(response);
    }

    /// <inheritdoc />
    protected override ListGroupsResponse? ErrorResponse(ListGroupsRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
