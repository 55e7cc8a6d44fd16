using System.Collections.Immutable;
using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// AlterConfigs (v0-v2): replaces a topic's whole set of config overrides, or a BROKER resource's dynamic configs
/// (a broker's, or the cluster default's), which the controller decides: a request naming one is forwarded to it.
/// </summary>
[AuthorizePerResource(AclOperation.AlterConfigs, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.AlterConfigs, AclResourceType.Cluster)]
public sealed class AlterConfigsHandler(ReplicaManager replicas, RequestAuthorizer authorizer, ControllerService controller) : ApiHandler<AlterConfigsRequest, AlterConfigsResponse>
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
        var denials = request.Resources.Select(r => authorizer.Check(context, AclOperation.AlterConfigs, r.ResourceType, r.ResourceName)).ToList();
        if (!controller.IsActive && request.Resources.Any(r => (ConfigResourceType)r.ResourceType == ConfigResourceType.Broker))
        {
            var forwarded = await ConfigResourceForwarding.ForwardAllowedAsync(
                request.Resources,
                denials,
                async allowed => (await replicas.ForwardToControllerAsync<AlterConfigsRequest, AlterConfigsResponse>(Key, context.ApiVersion, new AlterConfigsRequest { ValidateOnly = request.ValidateOnly, Resources = allowed }, context.Aborted).ConfigureAwait(false))?.Responses,
                (r, error) => new AlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = (short)error, ErrorMessage = RequestAuthorizer.DeniedMessage }).ConfigureAwait(false);
            return forwarded is null ? ErrorResponse(request, ErrorCode.NotController, "No active controller is reachable right now; retry.") : new AlterConfigsResponse { Responses = forwarded };
        }

        var response = new AlterConfigsResponse();
        foreach (var (resource, denied) in request.Resources.Zip(denials))
        {
            var result = new AlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = resource.ResourceType, ResourceName = resource.ResourceName };
            response.Responses.Add(result);
            if (denied != ErrorCode.None)
            {
                result.ErrorCode = (short)denied;
                result.ErrorMessage = RequestAuthorizer.DeniedMessage;
                continue;
            }

            var type = (ConfigResourceType)resource.ResourceType;
            if (type is not (ConfigResourceType.Topic or ConfigResourceType.Broker))
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = "Only topic and broker configs can be altered with AlterConfigs.";
                continue;
            }

            if (ConfigResourceForwarding.DuplicateKeys(resource.Configs.Select(c => c.Name)) is { } duplicates)
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = duplicates;
                continue;
            }

            var replacement = resource.Configs.ToImmutableSortedDictionary(c => c.Name, c => c.Value!, StringComparer.Ordinal);
            if (type == ConfigResourceType.Broker)
            {
                var decision = await replicas.AlterBrokerConfigsAsync(resource.ResourceName, _ => replacement, request.ValidateOnly, context.Aborted).ConfigureAwait(false);
                (result.ErrorCode, result.ErrorMessage) = ((short)decision.Error, decision.Message);
                continue;
            }

            var outcome = await replicas.AlterConfigsAsync(resource.ResourceName, _ => replacement, request.ValidateOnly, context.Aborted).ConfigureAwait(false);
            (result.ErrorCode, result.ErrorMessage) = ((short)outcome.Error, outcome.Message);
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
