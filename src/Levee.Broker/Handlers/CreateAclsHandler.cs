using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// CreateAcls (v1-v3; v0 was removed in Kafka 4.0, KIP-896): ALTER on the cluster, then each ACL is validated and
/// written to the metadata log by the controller (<see cref="AclDecisions.Create"/>); a broker that is not the
/// controller forwards the request to it. Without <c>authorizer.enabled</c> Kafka answers SECURITY_DISABLED.
/// </summary>
[AuthorizeRequest(AclOperation.Alter, AclResourceType.Cluster)]
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
        var acls = request.Creations.Select(c => new AccessControlEntryRecord(Guid.NewGuid(), c.ResourceType, c.ResourceName, c.ResourcePatternType, c.Principal, c.Host, c.Operation, c.PermissionType)).ToList();
        return await _change.RunAsync<CreateAclsRequest, CreateAclsResponse>(
            ApiKey.CreateAcls,
            CreateAclsRequest.HighestVersion,
            request,
            (image, limits) => AclDecisions.Create(image, acls, limits),
            results => new CreateAclsResponse { Results = [.. results.Select(r => new CreateAclsResponse.AclCreationResult { ErrorCode = (short)r.Error, ErrorMessage = r.Message })] },
            (error, message) => ErrorResponse(request, error, message)!,
            context.Aborted).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override CreateAclsResponse? ErrorResponse(CreateAclsRequest request, ErrorCode error, string? message) =>
        new() { Results = [.. request.Creations.Select(_ => new CreateAclsResponse.AclCreationResult { ErrorCode = (short)error, ErrorMessage = message })] };
}
