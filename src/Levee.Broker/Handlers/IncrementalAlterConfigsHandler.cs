using System.Collections.Immutable;
using Levee.Broker.Cluster;
using Levee.Broker.Configs;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Broker.Topics;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// IncrementalAlterConfigs (v0-v1, KIP-339): SET, DELETE, APPEND and SUBTRACT on topic configs, on dynamic broker
/// configs (a broker's, or the cluster default's: <see cref="DynamicBrokerConfigs"/>), and on Levee's TENANT and PLAN
/// resources (docs/tenants.md). The controller decides the last three: a request naming one is forwarded to it whole,
/// less the resources the sender may not alter.
/// </summary>
[AuthorizePerResource(AclOperation.AlterConfigs, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.AlterConfigs, AclResourceType.Cluster)]
public sealed class IncrementalAlterConfigsHandler(ReplicaManager replicas, RequestAuthorizer authorizer, ControllerService controller) : ApiHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>
{
    private const sbyte Set = 0;
    private const sbyte Delete = 1;
    private const sbyte Append = 2;
    private const sbyte Subtract = 3;

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.IncrementalAlterConfigs;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override IncrementalAlterConfigsRequest Read(ref KafkaReader reader, short version) => IncrementalAlterConfigsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(IncrementalAlterConfigsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<IncrementalAlterConfigsResponse?> HandleAsync(RequestContext context, IncrementalAlterConfigsRequest request)
    {
        var denials = request.Resources.Select(r => authorizer.Check(context, AclOperation.AlterConfigs, r.ResourceType, r.ResourceName)).ToList();
        if (!controller.IsActive && request.Resources.Any(r => ConfigResourceForwarding.DecidedByController(r.ResourceType)))
        {
            var forwarded = await ConfigResourceForwarding.ForwardAllowedAsync(
                request.Resources,
                denials,
                async allowed => (await replicas.ForwardToControllerAsync<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(Key, context.ApiVersion, new IncrementalAlterConfigsRequest { ValidateOnly = request.ValidateOnly, Resources = allowed }, context.Aborted).ConfigureAwait(false))?.Responses,
                (r, error) => new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = (short)error, ErrorMessage = RequestAuthorizer.DeniedMessage }).ConfigureAwait(false);
            return forwarded is null ? ErrorResponse(request, ErrorCode.NotController, "No active controller is reachable right now; retry.") : new IncrementalAlterConfigsResponse { Responses = forwarded };
        }

        var response = new IncrementalAlterConfigsResponse();
        foreach (var (resource, denied) in request.Resources.Zip(denials))
        {
            var result = new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = resource.ResourceType, ResourceName = resource.ResourceName };
            response.Responses.Add(result);
            if (denied != ErrorCode.None)
            {
                result.ErrorCode = (short)denied;
                result.ErrorMessage = RequestAuthorizer.DeniedMessage;
                continue;
            }

            string? problem = null;
            if ((ConfigResourceType)resource.ResourceType == ConfigResourceType.Broker)
            {
                var outcome = ConfigResourceForwarding.DuplicateKeys(resource.Configs.Select(c => c.Name)) is { } duplicate ? Decision.Fail(ErrorCode.InvalidRequest, duplicate)
                    : await replicas.AlterBrokerConfigsAsync(resource.ResourceName, current => Apply(current, resource.Configs, BrokerConfigType, ref problem), request.ValidateOnly, context.Aborted).ConfigureAwait(false);
                (result.ErrorCode, result.ErrorMessage) = problem is not null ? ((short)ErrorCode.InvalidRequest, problem) : ((short)outcome.Error, outcome.Message);
                continue;
            }

            if (IsTenantOrPlan(resource.ResourceType))
            {
                var decision = await AlterTenantOrPlanAsync(resource, request.ValidateOnly, context.Aborted).ConfigureAwait(false);
                result.ErrorCode = (short)decision.Error;
                result.ErrorMessage = decision.Message;
                continue;
            }

            if ((ConfigResourceType)resource.ResourceType != ConfigResourceType.Topic)
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = "Only topic configs can be altered on this broker.";
                continue;
            }

            if (ConfigResourceForwarding.DuplicateKeys(resource.Configs.Select(c => c.Name)) is { } duplicates)
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = duplicates;
                continue;
            }

            var altered = await replicas.AlterConfigsAsync(resource.ResourceName, current => Apply(current, resource.Configs, TopicConfigType, ref problem), request.ValidateOnly, context.Aborted).ConfigureAwait(false);
            if (problem is not null)
            {
                result.ErrorCode = (short)ErrorCode.InvalidConfig;
                result.ErrorMessage = problem;
                continue;
            }

            result.ErrorCode = (short)altered.Error;
            result.ErrorMessage = altered.Message;
        }

        return response;
    }

    private static bool IsTenantOrPlan(sbyte resourceType) => (ConfigResourceType)resourceType is ConfigResourceType.Tenant or ConfigResourceType.Plan;

    private async Task<Decision> AlterTenantOrPlanAsync(IncrementalAlterConfigsRequest.AlterConfigsResource resource, bool validateOnly, CancellationToken cancellationToken)
    {
        if (!controller.IsActive)
        {
            return Decision.Fail(ErrorCode.NotController, "This broker is not the active controller; retry.");
        }

        var changes = resource.Configs.Select(c => new ConfigChange(c.Name, c.ConfigOperation, c.Value)).ToList();
        var tenant = (ConfigResourceType)resource.ResourceType == ConfigResourceType.Tenant;
        var what = $"Changing {(tenant ? "tenant" : "plan")} '{resource.ResourceName}'";

        // A new tenant or a bigger plan reserves more of the brokers: the headroom guard checks it like a new topic.
        Decision Decide(MetadataImage image)
        {
            var decision = tenant ? TenantControl.AlterTenant(image, resource.ResourceName, changes) : TenantControl.AlterPlan(image, resource.ResourceName, changes);
            return decision.Error == ErrorCode.None ? ControllerDecisions.Guarded(image, decision.Records, replicas.Limits, what) : decision;
        }

        if (validateOnly)
        {
            var checkedOnly = Decide(controller.Image);
            return checkedOnly.Error == ErrorCode.None ? Decision.Commit([]) : checkedOnly;
        }

        return await controller.DecideAsync(Decide, cancellationToken).ConfigureAwait(false);
    }

    private static (ConfigType Type, string Default)? TopicConfigType(string name) =>
        TopicConfigDefinitions.All.TryGetValue(name, out var definition) ? (definition.Type, definition.Default) : null;

    // Any key may be named: those that cannot change at run time are refused by name afterwards, all together. APPEND
    // and SUBTRACT start from Kafka's default when the resource has no value (log.cleanup.policy: delete).
    private static (ConfigType Type, string Default)? BrokerConfigType(string name) =>
        BrokerConfigDefinitions.All.TryGetValue(name, out var definition)
            ? (definition.Type, TopicConfigDefinitions.All.Values.FirstOrDefault(d => d.BrokerSynonym == name)?.Default ?? "")
            : (ConfigType.String, "");

    private static ImmutableSortedDictionary<string, string> Apply(ImmutableSortedDictionary<string, string> current, List<IncrementalAlterConfigsRequest.AlterableConfig> changes, Func<string, (ConfigType Type, string Default)?> describe, ref string? problem)
    {
        var builder = current.ToBuilder();
        foreach (var change in changes)
        {
            if (describe(change.Name) is not { } definition)
            {
                problem = $"Unknown topic config name: {change.Name}";
                return current;
            }

            switch (change.ConfigOperation)
            {
                case Set:
                    builder[change.Name] = change.Value ?? string.Empty;
                    break;
                case Delete:
                    builder.Remove(change.Name);
                    break;
                case Append or Subtract when definition.Type == ConfigType.List:
                    var existing = (builder.TryGetValue(change.Name, out var v) ? v : definition.Default)
                        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
                    var items = (change.Value ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    if (change.ConfigOperation == Append)
                    {
                        existing.AddRange(items.Where(i => !existing.Contains(i)));
                    }
                    else
                    {
                        existing.RemoveAll(items.Contains);
                    }

                    builder[change.Name] = string.Join(',', existing);
                    break;
                case Append or Subtract:
                    problem = $"Config value append/subtract is not allowed for config key {change.Name} because its type is not LIST";
                    return current;
                default:
                    problem = $"Unknown config operation {change.ConfigOperation} for {change.Name}";
                    return current;
            }
        }

        return builder.ToImmutable();
    }

    /// <inheritdoc />
    protected override void MapRequestNames(IncrementalAlterConfigsRequest request, TenantNamespace tenant)
    {
        foreach (var resource in request.Resources)
        {
            resource.ResourceName = tenant.ToStored(resource.ResourceType, resource.ResourceName);
        }
    }

    /// <inheritdoc />
    protected override void MapResponseNames(IncrementalAlterConfigsResponse response, TenantNamespace tenant)
    {
        foreach (var result in response.Responses)
        {
            result.ResourceName = tenant.ToTenant(result.ResourceType, result.ResourceName);
        }
    }

    /// <inheritdoc />
    protected override IncrementalAlterConfigsResponse? ErrorResponse(IncrementalAlterConfigsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Responses = [.. request.Resources.Select(r => new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = (short)error, ErrorMessage = message })],
        };
}
