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
        if (!authorizer.Enabled)
        {
            return ErrorResponse(request, ErrorCode.SecurityDisabled, AclRequests.SecurityDisabledMessage);
        }

        if (!controller.IsActive)
        {
            return await replicas.ForwardToControllerAsync<DeleteAclsRequest, DeleteAclsResponse>(ApiKey.DeleteAcls, DeleteAclsRequest.HighestVersion, request, context.Aborted).ConfigureAwait(false)
                ?? ErrorResponse(request, ErrorCode.NotController, AclRequests.NoControllerMessage);
        }

        var filters = request.Filters.Select(f => AclRequests.Filter(f.ResourceTypeFilter, f.ResourceNameFilter, f.PatternTypeFilter, f.PrincipalFilter, f.HostFilter, f.Operation, f.PermissionType)).ToList();
        IReadOnlyList<AclResult> results = [];
        var decision = await controller.DecideAsync(
            image =>
            {
                var (decided, answers) = AclDecisions.Delete(image, filters, replicas.Limits);
                results = answers;
                return decided;
            },
            context.Aborted).ConfigureAwait(false);
        if (decision.Error != ErrorCode.None)
        {
            return ErrorResponse(request, decision.Error, decision.Message);
        }

        var response = new DeleteAclsResponse();
        foreach (var result in results)
        {
            response.FilterResults.Add(new DeleteAclsResponse.DeleteAclsFilterResult
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
            });
        }

        return response;
    }

    /// <inheritdoc />
    protected override DeleteAclsResponse? ErrorResponse(DeleteAclsRequest request, ErrorCode error, string? message) =>
        new() { FilterResults = [.. request.Filters.Select(_ => new DeleteAclsResponse.DeleteAclsFilterResult { ErrorCode = (short)error, ErrorMessage = message })] };
}
