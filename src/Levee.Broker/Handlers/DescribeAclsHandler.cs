using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeAcls (v1-v3; v0 was removed in Kafka 4.0, KIP-896): DESCRIBE on the cluster, then the ACLs of this
/// broker's metadata image the filter matches, grouped by resource pattern, as Kafka answers from its local
/// authorizer. Without <c>authorizer.enabled</c>: SECURITY_DISABLED. A tenant describes its own ACLs, in its own names,
/// as far as its ACLs allow DESCRIBE on the cluster.
/// </summary>
[AuthorizeRequest(AclOperation.Describe, AclResourceType.Cluster, TenantScoped = true)]
public sealed class DescribeAclsHandler(ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<DescribeAclsRequest, DescribeAclsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeAcls;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 3;

    /// <inheritdoc />
    protected override DescribeAclsRequest Read(ref KafkaReader reader, short version) => DescribeAclsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeAclsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeAclsResponse?> HandleAsync(RequestContext context, DescribeAclsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var tenant = context.Connection.Tenant;
        if (!authorizer.Enabled && tenant is null)
        {
            return ValueTask.FromResult(ErrorResponse(request, ErrorCode.SecurityDisabled, AclRequests.SecurityDisabledMessage));
        }

        var filter = AclRequests.Filter(request.ResourceTypeFilter, request.ResourceNameFilter, request.PatternTypeFilter, request.PrincipalFilter, request.HostFilter, request.Operation, request.PermissionType);
        if (!filter.IsKnown)
        {
            return ValueTask.FromResult(ErrorResponse(request, ErrorCode.InvalidRequest, AclFilter.UnknownMessage));
        }

        var response = new DescribeAclsResponse { ErrorMessage = null };
        var image = replicas.Image;
        if (tenant is not null)
        {
            // A principal not the tenant's names none of its ACLs.
            if (AclRequests.TenantPrincipal(image, tenant, filter.Principal, out var principal) is not null)
            {
                return ValueTask.FromResult<DescribeAclsResponse?>(response);
            }

            filter = filter with { Principal = principal };
        }

        foreach (var resource in AclDecisions.Describe(image, filter, tenant?.Tenant.Name).GroupBy(a => (a.ResourceType, a.ResourceName, a.PatternType)))
        {
            response.Resources.Add(new DescribeAclsResponse.DescribeAclsResource
            {
                ResourceType = resource.Key.ResourceType,
                ResourceName = resource.Key.ResourceName,
                PatternType = resource.Key.PatternType,
                Acls = [.. resource.Select(acl => new DescribeAclsResponse.AclDescription { Principal = acl.Principal, Host = acl.Host, Operation = acl.Operation, PermissionType = acl.PermissionType })],
            });
        }

        return ValueTask.FromResult<DescribeAclsResponse?>(response);
    }

    /// <inheritdoc />
    protected override void MapRequestNames(DescribeAclsRequest request, TenantNamespace tenant)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(tenant);
        (request.ResourceNameFilter, request.PatternTypeFilter) = tenant.ToStoredAcl(request.ResourceTypeFilter, request.ResourceNameFilter, request.PatternTypeFilter);
    }

    /// <inheritdoc />
    protected override void MapResponseNames(DescribeAclsResponse response, TenantNamespace tenant)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(tenant);
        foreach (var resource in response.Resources)
        {
            (resource.ResourceName, resource.PatternType) = tenant.ToTenantAcl(resource.ResourceType, resource.ResourceName, resource.PatternType);
            foreach (var acl in resource.Acls)
            {
                acl.Principal = tenant.ToTenantPrincipal(acl.Principal);
            }
        }
    }

    /// <inheritdoc />
    protected override DescribeAclsResponse? ErrorResponse(DescribeAclsRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message };
}
