using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// CreateAcls (v1-v3; v0 was removed in Kafka 4.0, KIP-896): ALTER on the cluster, then each ACL is validated and
/// written to the metadata log by the controller (<see cref="AclDecisions.Create"/>); a broker that is not the
/// controller forwards the request to it. Without <c>authorizer.enabled</c> Kafka answers SECURITY_DISABLED. A tenant
/// creates ACLs of its own, on its namespace and its principals (see docs/tenants.md), as far as its ACLs allow ALTER
/// on the cluster.
/// </summary>
[AuthorizeRequest(AclOperation.Alter, AclResourceType.Cluster, TenantScoped = true)]
public sealed class CreateAclsHandler(ControllerService controller, ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<CreateAclsRequest, CreateAclsResponse>
{
    private readonly AclChange _change = new(controller, replicas, authorizer);

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.CreateAcls;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 3;

    /// <inheritdoc />
    protected override CreateAclsRequest Read(ref KafkaReader reader, short version) => CreateAclsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(CreateAclsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<CreateAclsResponse?> HandleAsync(RequestContext context, CreateAclsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);

        // A tenant names principals of its own only: each other entry is answered INVALID_REQUEST, the rest decided.
        var refused = new string?[request.Creations.Count];
        if (context.Connection.Tenant is { } tenant)
        {
            var image = replicas.Image;
            for (var i = 0; i < refused.Length; i++)
            {
                var creation = request.Creations[i];
                refused[i] = AclRequests.TenantPrincipal(image, tenant, creation.Principal, out var stored);
                creation.Principal = stored ?? creation.Principal;
            }
        }

        var decided = new CreateAclsRequest { Creations = [.. request.Creations.Where((_, i) => refused[i] is null)] };
        var acls = decided.Creations.Select(c => new AccessControlEntryRecord(Guid.NewGuid(), c.ResourceType, c.ResourceName, c.ResourcePatternType, c.Principal, c.Host, c.Operation, c.PermissionType)).ToList();
        var response = await _change.RunAsync<CreateAclsRequest, CreateAclsResponse>(
            context,
            ApiKey.CreateAcls,
            CreateAclsRequest.HighestVersion,
            decided,
            (image, limits) => AclDecisions.Create(image, acls, limits),
            results => new CreateAclsResponse { Results = [.. results.Select(r => new CreateAclsResponse.AclCreationResult { ErrorCode = (short)r.Error, ErrorMessage = r.Message })] },
            (error, message) => ErrorResponse(decided, error, message)!).ConfigureAwait(false);

        // The answers in the request's order: the refused entries' own, the decided ones' as the controller gave them.
        var next = 0;
        return new CreateAclsResponse
        {
            ThrottleTimeMs = response.ThrottleTimeMs,
            Results =
            [
                .. refused.Select(problem => problem is null
                    ? response.Results[next++]
                    : new CreateAclsResponse.AclCreationResult { ErrorCode = (short)ErrorCode.InvalidRequest, ErrorMessage = problem }),
            ],
        };
    }

    /// <inheritdoc />
    protected override void MapRequestNames(CreateAclsRequest request, TenantNamespace tenant)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(tenant);
        foreach (var creation in request.Creations)
        {
            (var name, creation.ResourcePatternType) = tenant.ToStoredAcl(creation.ResourceType, creation.ResourceName, creation.ResourcePatternType);
            creation.ResourceName = name!;
        }
    }

    /// <inheritdoc />
    protected override CreateAclsResponse? ErrorResponse(CreateAclsRequest request, ErrorCode error, string? message) =>
        new() { Results = [.. request.Creations.Select(_ => new CreateAclsResponse.AclCreationResult { ErrorCode = (short)error, ErrorMessage = message })] };
}
