using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DeleteAcls (v1-v3; v0 was removed in Kafka 4.0, KIP-896): ALTER on the cluster, then the controller removes every
/// ACL a filter matches (<see cref="AclDecisions.Delete"/>) and answers, per filter, the ACLs it removed; a broker
/// that is not the controller forwards the request to it. Without <c>authorizer.enabled</c>: SECURITY_DISABLED. A tenant
/// deletes among its own ACLs only, as far as its ACLs allow ALTER on the cluster.
/// </summary>
[AuthorizeRequest(AclOperation.Alter, AclResourceType.Cluster, TenantScoped = true)]
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
        return context.Connection.Tenant is { } tenant
            ? await DeleteOwnAsync(context, filters, tenant).ConfigureAwait(false)
            : await DecideAsync(context, request, filters, null).ConfigureAwait(false);
    }

    private Task<DeleteAclsResponse> DecideAsync(RequestContext context, DeleteAclsRequest request, IReadOnlyList<AclFilter> filters, string? tenant) =>
        _change.RunAsync<DeleteAclsRequest, DeleteAclsResponse>(
            context,
            ApiKey.DeleteAcls,
            DeleteAclsRequest.HighestVersion,
            request,
            (image, limits) => AclDecisions.Delete(image, filters, limits, tenant),
            results => new DeleteAclsResponse { FilterResults = [.. results.Select(Result)] },
            (error, message) => ErrorResponse(request, error, message)!);

    /// <summary>
    /// A tenant's filters are resolved here, among its own ACLs, into one exact filter per ACL they match, so that
    /// what the controller decides (here or forwarded) names nothing but the tenant's ACLs; each filter is then
    /// answered with the answers for the ACLs it matched.
    /// </summary>
    private async Task<DeleteAclsResponse> DeleteOwnAsync(RequestContext context, IReadOnlyList<AclFilter> filters, TenantNamespace tenant)
    {
        var image = replicas.Image;
        var matched = filters.Select(filter =>
            !filter.IsKnown ? null
            : AclRequests.TenantPrincipal(image, tenant, filter.Principal, out var principal) is null ? AclDecisions.Describe(image, filter with { Principal = principal }, tenant.Tenant.Name)
            : []).ToList();
        var acls = matched.SelectMany(m => m ?? []).DistinctBy(acl => acl.Id).ToList();
        var exact = acls.Select(AclFilter.Exact).ToList();
        var request = new DeleteAclsRequest
        {
            Filters =
            [
                .. exact.Select(f => new DeleteAclsRequest.DeleteAclsFilter
                {
                    ResourceTypeFilter = (sbyte)f.ResourceType,
                    ResourceNameFilter = f.ResourceName,
                    PatternTypeFilter = (sbyte)f.PatternType,
                    PrincipalFilter = f.Principal,
                    HostFilter = f.Host,
                    Operation = (sbyte)f.Operation,
                    PermissionType = (sbyte)f.PermissionType,
                }),
            ],
        };
        var response = acls.Count == 0 ? new DeleteAclsResponse() : await DecideAsync(context, request, exact, tenant.Tenant.Name).ConfigureAwait(false);
        var answers = acls.Select((acl, i) => (acl.Id, Answer: response.FilterResults[i])).ToDictionary(a => a.Id, a => a.Answer);
        return new DeleteAclsResponse
        {
            ThrottleTimeMs = response.ThrottleTimeMs,
            FilterResults = [.. matched.Select(m => m is null ? new DeleteAclsResponse.DeleteAclsFilterResult { ErrorCode = (short)ErrorCode.InvalidRequest, ErrorMessage = AclFilter.UnknownMessage } : Combine(m.Select(acl => answers[acl.Id])))],
        };
    }

    // One filter's answer from those of the ACLs it matched: the first error, else every ACL they removed.
    private static DeleteAclsResponse.DeleteAclsFilterResult Combine(IEnumerable<DeleteAclsResponse.DeleteAclsFilterResult> answers)
    {
        var all = answers.ToList();
        return all.FirstOrDefault(a => a.ErrorCode != (short)ErrorCode.None)
            ?? new DeleteAclsResponse.DeleteAclsFilterResult { ErrorCode = (short)ErrorCode.None, ErrorMessage = null, MatchingAcls = [.. all.SelectMany(a => a.MatchingAcls)] };
    }

    /// <inheritdoc />
    protected override void MapRequestNames(DeleteAclsRequest request, TenantNamespace tenant)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(tenant);
        foreach (var filter in request.Filters)
        {
            (filter.ResourceNameFilter, filter.PatternTypeFilter) = tenant.ToStoredAcl(filter.ResourceTypeFilter, filter.ResourceNameFilter, filter.PatternTypeFilter);
        }
    }

    /// <inheritdoc />
    protected override void MapResponseNames(DeleteAclsResponse response, TenantNamespace tenant)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(tenant);
        foreach (var acl in response.FilterResults.SelectMany(r => r.MatchingAcls))
        {
            (acl.ResourceName, acl.PatternType) = tenant.ToTenantAcl(acl.ResourceType, acl.ResourceName, acl.PatternType);
            acl.Principal = tenant.ToTenantPrincipal(acl.Principal);
        }
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
