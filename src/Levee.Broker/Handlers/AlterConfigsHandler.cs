using System.Collections.Immutable;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>AlterConfigs (v0-v2): replaces a topic's whole set of config overrides.</summary>
[AuthorizePerResource(AclOperation.AlterConfigs, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.AlterConfigs, AclResourceType.Cluster)]
public sealed class AlterConfigsHandler(ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<AlterConfigsRequest, AlterConfigsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AlterConfigs;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 2;

    /// <inheritdoc />
    protected override AlterConfigsRequest Read(ref KafkaReader reader, short version) => AlterConfigsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AlterConfigsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<AlterConfigsResponse?> HandleAsync(RequestContext context, AlterConfigsRequest request)
    {
        var response = new AlterConfigsResponse();
        foreach (var resource in request.Resources)
        {
            var result = new AlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = resource.ResourceType, ResourceName = resource.ResourceName };
            response.Responses.Add(result);
            if (authorizer.Check(context, AclOperation.AlterConfigs, resource.ResourceType, resource.ResourceName) is not ErrorCode.None and var denied)
            {
                result.ErrorCode = (short)denied;
                result.ErrorMessage = RequestAuthorizer.DeniedMessage;
                continue;
            }

            if ((ConfigResourceType)resource.ResourceType != ConfigResourceType.Topic)
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = "Only topic configs can be altered on this broker.";
                continue;
            }

            if (resource.Configs.Select(c => c.Name).Distinct(StringComparer.Ordinal).Count() != resource.Configs.Count)
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = "Error due to duplicate config keys";
                continue;
            }

            var replacement = resource.Configs.ToImmutableSortedDictionary(c => c.Name, c => c.Value!, StringComparer.Ordinal);
            var outcome = await replicas.AlterConfigsAsync(resource.ResourceName, _ => replacement, request.ValidateOnly, context.Aborted).ConfigureAwait(false);
            result.ErrorCode = (short)outcome.Error;
            result.ErrorMessage = outcome.Message;
        }

        return response;
    }

    /// <inheritdoc />
    protected override void MapRequestNames(AlterConfigsRequest request, TenantNamespace tenant)
    {
        foreach (var resource in request.Resources)
        {
            resource.ResourceName = tenant.ToStored(resource.ResourceType, resource.ResourceName);
        }
    }

    /// <inheritdoc />
    protected override void MapResponseNames(AlterConfigsResponse response, TenantNamespace tenant)
    {
        foreach (var result in response.Responses)
        {
            result.ResourceName = tenant.ToTenant(result.ResourceType, result.ResourceName);
        }
    }

    /// <inheritdoc />
    protected override AlterConfigsResponse? ErrorResponse(AlterConfigsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Responses = [.. request.Resources.Select(r => new AlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = (short)error, ErrorMessage = message })],
        };
}
