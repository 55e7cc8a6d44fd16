using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeAcls (v1-v3; v0 was removed in Kafka 4.0, KIP-896): DESCRIBE on the cluster, then the ACLs of this
/// broker's metadata image the filter matches, grouped by resource pattern, as Kafka answers from its local
/// authorizer. Without <c>authorizer.enabled</c>: SECURITY_DISABLED.
/// </summary>
[AuthorizeRequest(AclOperation.Describe, AclResourceType.Cluster)]
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
        ArgumentNullException.ThrowIfNull(request);
        if (!authorizer.Enabled)
        {
            return ValueTask.FromResult(ErrorResponse(request, ErrorCode.SecurityDisabled, AclRequests.SecurityDisabledMessage));
        }

        var filter = AclRequests.Filter(request.ResourceTypeFilter, request.ResourceNameFilter, request.PatternTypeFilter, request.PrincipalFilter, request.HostFilter, request.Operation, request.PermissionType);
        if (!filter.IsKnown)
        {
            return ValueTask.FromResult(ErrorResponse(request, ErrorCode.InvalidRequest, "The filter contains an unknown resource type, pattern type, operation or permission type."));
        }

        var response = new DescribeAclsResponse { ErrorMessage = null };
        foreach (var resource in AclDecisions.Describe(replicas.Image, filter).GroupBy(a => (a.ResourceType, a.ResourceName, a.PatternType)))
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
    protected override DescribeAclsResponse? ErrorResponse(DescribeAclsRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message };
}
