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
        if (!authorizer.Enabled)
        {
            return ErrorResponse(request, ErrorCode.SecurityDisabled, AclRequests.SecurityDisabledMessage);
        }

        if (!controller.IsActive)
        {
            return await replicas.ForwardToControllerAsync<CreateAclsRequest, CreateAclsResponse>(ApiKey.CreateAcls, CreateAclsRequest.HighestVersion, request, context.Aborted).ConfigureAwait(false)
                ?? ErrorResponse(request, ErrorCode.NotController, AclRequests.NoControllerMessage);
        }

        var acls = request.Creations.Select(c => new AccessControlEntryRecord(Guid.NewGuid(), c.ResourceType, c.ResourceName, c.ResourcePatternType, c.Principal, c.Host, c.Operation, c.PermissionType)).ToList();
        IReadOnlyList<AclResult> results = [];
        var decision = await controller.DecideAsync(
            image =>
            {
                var (decided, answers) = AclDecisions.Create(image, acls, replicas.Limits);
                results = answers;
                return decided;
            },
            context.Aborted).ConfigureAwait(false);
        if (decision.Error != ErrorCode.None)
        {
            return ErrorResponse(request, decision.Error, decision.Message);
        }

        var response = new CreateAclsResponse();
        response.Results.AddRange(results.Select(r => new CreateAclsResponse.AclCreationResult { ErrorCode = (short)r.Error, ErrorMessage = r.Message }));
        return response;
    }

    /// <inheritdoc />
    protected override CreateAclsResponse? ErrorResponse(CreateAclsRequest request, ErrorCode error, string? message) =>
        new() { Results = [.. request.Creations.Select(_ => new CreateAclsResponse.AclCreationResult { ErrorCode = (short)error, ErrorMessage = message })] };
}
