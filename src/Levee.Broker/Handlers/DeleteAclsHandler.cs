using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DeleteAcls (v1-v3; v0 was removed in Kafka 4.0, KIP-896): ALTER on the cluster, then the controller removes every
/// ACL a filter matches (<see cref="AclDecisions.Delete"/>) and answers, per filter, the ACLs it removed; a broker
/// that is not the controller forwards the request to it. Without <c>authorizer.enabled</c>: SECURITY_DISABLED.
/// </summary>
[AuthorizeRequest(AclOperation.Alter, AclResourceType.Cluster)]
public sealed class DeleteAclsHandler(ControllerService controller, ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<DeleteAclsRequest, DeleteAclsResponse>
{
    private readonly AclChange _change = new(controller, replicas, authorizer);

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DeleteAcls;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 3;

    /// <inheritdoc />
    protected override DeleteAclsRequest Read(ref KafkaReader reader, short version) => DeleteAclsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DeleteAclsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<DeleteAclsResponse?> HandleAsync(RequestContext context, DeleteAclsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var filters = request.Filters.Select(f => AclRequests.Filter(f.ResourceTypeFilter, f.ResourceNameFilter, f.PatternTypeFilter, f.PrincipalFilter, f.HostFilter, f.Operation, f.PermissionType)).ToList();
        return await _change.RunAsync<DeleteAclsRequest, DeleteAclsResponse>(
            ApiKey.DeleteAcls,
            DeleteAclsRequest.HighestVersion,
            request,
            (image, limits) => AclDecisions.Delete(image, filters, limits),
            results => new DeleteAclsResponse { FilterResults = [.. results.Select(Result)] },
            (error, message) => ErrorResponse(request, error, message)!,
            context.Aborted).ConfigureAwait(false);
    }

    private static DeleteAclsResponse.DeleteAclsFilterResult Result(AclResult result) => new()
    {
        ErrorCode = (short)result.Error,
        ErrorMessage = result.Message,
        MatchingAcls =
        [
            .. result.Deleted.Select(acl => new DeleteAclsResponse.DeleteAclsMatchingAcl
            {
                ResourceType = acl.ResourceType,
                ResourceName = acl.ResourceName,
                PatternType = acl.PatternType,
                Principal = acl.Principal,
                Host = acl.Host,
                Operation = acl.Operation,
                PermissionType = acl.PermissionType,
                ErrorMessage = null,
            }),
        ],
    };

    /// <inheritdoc />
    protected override DeleteAclsResponse? ErrorResponse(DeleteAclsRequest request, ErrorCode error, string? message) =>
        new() { FilterResults = [.. request.Filters.Select(_ => new DeleteAclsResponse.DeleteAclsFilterResult { ErrorCode = (short)error, ErrorMessage = message })] };
}
