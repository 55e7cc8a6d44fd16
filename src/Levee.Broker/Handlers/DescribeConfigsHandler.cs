using System.Globalization;
using Levee.Broker.Capacity;
using Levee.Broker.Configs;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Broker.Topics;
using Levee.Cluster.Quorum;
using Levee.Protocol;
using Levee.Protocol.Messages;
using MetadataResourceType = Levee.Cluster.Metadata.ConfigResourceType;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeConfigs (v1-v4): every topic config with its value, source, synonyms (v1+), type and
/// documentation (v3+); a broker resource every broker config, with its dynamic values (<see cref="DynamicBrokerConfigs"/>), the
/// cluster default resource ("") the dynamic defaults set on it; Levee's TENANT and
/// PLAN resources (docs/tenants.md) and its read-only CAPACITY resource, one broker's capacity model (docs/cascades.md).
/// </summary>
[AuthorizePerResource(AclOperation.DescribeConfigs, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.DescribeConfigs, AclResourceType.Cluster)]
public sealed class DescribeConfigsHandler(ReplicaManager replicas, RequestAuthorizer authorizer, BrokerOptions options, BrokerIdentity identity, MetadataQuorum quorum, TenantUsage usage) : ApiHandler<DescribeConfigsRequest, DescribeConfigsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeConfigs;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 4;

    /// <inheritdoc />
    protected override DescribeConfigsRequest Read(ref KafkaReader reader, short version) => DescribeConfigsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeConfigsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeConfigsResponse?> HandleAsync(RequestContext context, DescribeConfigsRequest request)
    {
        var response = new DescribeConfigsResponse();
        foreach (var resource in request.Resources)
        {
            var result = new DescribeConfigsResponse.DescribeConfigsResult { ResourceType = resource.ResourceType, ResourceName = resource.ResourceName };
            response.Results.Add(result);
            if (authorizer.Check(context, AclOperation.DescribeConfigs, resource.ResourceType, resource.ResourceName) is not ErrorCode.None and var denied)
            {
                result.ErrorCode = (short)denied;
                result.ErrorMessage = RequestAuthorizer.DeniedMessage;
                continue;
            }

            var keys = resource.ConfigurationKeys is { Count: > 0 } k ? k.ToHashSet(StringComparer.Ordinal) : null;
            switch ((ConfigResourceType)resource.ResourceType)
            {
                case ConfigResourceType.Topic:
                    if (!replicas.Topics.TryGet(resource.ResourceName, out var topic))
                    {
                        result.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                        result.ErrorMessage = $"Topic {resource.ResourceName} does not exist.";
                        break;
                    }

                    foreach (var effective in replicas.DescribeConfigs(topic))
                    {
                        if (keys is not null && !keys.Contains(effective.Definition.Name))
                        {
                            continue;
                        }

                        var entry = new DescribeConfigsResponse.DescribeConfigsResourceResult
                        {
                            Name = effective.Definition.Name,
                            Value = effective.Value,
                            ReadOnly = false,
                            IsDefault = effective.Source == ConfigSource.DefaultConfig,
                            ConfigSource = (sbyte)effective.Source,
                            IsSensitive = false,
                            ConfigType = (sbyte)effective.Definition.Type,
                            Documentation = request.IncludeDocumentation ? effective.Definition.Documentation : null,
                        };
                        AddSynonyms(entry, request.IncludeSynonyms, effective.Synonyms.Select(s => (s.Name, (string?)s.Value, s.Source)));
                        result.Configs.Add(entry);
                    }

                    break;
                case ConfigResourceType.Broker:
                    if (resource.ResourceName.Length > 0 && resource.ResourceName != identity.NodeId.ToString(CultureInfo.InvariantCulture))
                    {
                        result.ErrorCode = (short)ErrorCode.InvalidRequest;
                        result.ErrorMessage = $"Unexpected broker id, expected {identity.NodeId} or empty string, but received {resource.ResourceName}";
                        break;
                    }

                    var entries = DynamicBrokerConfigs.Describe(quorum.Current, new BrokerConfigContext(options, identity, replicas.Limits, replicas.ClusterId), clusterDefault: resource.ResourceName.Length == 0);
                    foreach (var broker in entries.Where(e => keys is null || keys.Contains(e.Definition.Name)))
                    {
                        var entry = new DescribeConfigsResponse.DescribeConfigsResourceResult
                        {
                            Name = broker.Definition.Name,
                            Value = broker.Value,
                            ReadOnly = !broker.Definition.Dynamic,
                            IsDefault = broker.Source == ConfigSource.DefaultConfig,
                            ConfigSource = (sbyte)broker.Source,
                            IsSensitive = broker.Definition.Sensitive,
                            ConfigType = (sbyte)broker.Definition.Type,
                            Documentation = request.IncludeDocumentation ? broker.Definition.Documentation : null,
                        };
                        AddSynonyms(entry, request.IncludeSynonyms, broker.Synonyms);
                        result.Configs.Add(entry);
                    }

                    break;
                case ConfigResourceType.Tenant or ConfigResourceType.Plan:
                    var type = (MetadataResourceType)resource.ResourceType;
                    var configs = type == MetadataResourceType.Tenant
                        ? TenantConfigs.DescribeTenant(quorum.Current, resource.ResourceName, usage)
                        : TenantConfigs.DescribePlan(quorum.Current, resource.ResourceName);
                    if (configs is null)
                    {
                        (var error, result.ErrorMessage) = TenantConfigs.NotFound(type, resource.ResourceName);
                        result.ErrorCode = (short)error;
                        break;
                    }

                    result.Configs.AddRange(Entries(configs, keys, readOnly: false, ConfigSource.DynamicBrokerConfig));
                    break;
                case ConfigResourceType.Capacity:
                    if (CapacityConfigs.Describe(quorum.Current, replicas.Limits, resource.ResourceName) is not { } capacity)
                    {
                        result.ErrorCode = (short)ErrorCode.ResourceNotFound;
                        result.ErrorMessage = $"No live broker has the id '{resource.ResourceName}'.";
                        break;
                    }

                    result.Configs.AddRange(Entries(capacity, keys, readOnly: true, ConfigSource.StaticBrokerConfig));
                    break;
                default:
                    result.ErrorCode = (short)ErrorCode.InvalidRequest;
                    result.ErrorMessage = $"Unsupported resource type {resource.ResourceType}.";
                    break;
            }
        }

        return ValueTask.FromResult<DescribeConfigsResponse?>(response);
    }

    // Levee's own resources' entries, as strings, those asked for only.
    private static IEnumerable<DescribeConfigsResponse.DescribeConfigsResourceResult> Entries(IEnumerable<(string Name, string Value)> configs, HashSet<string>? keys, bool readOnly, ConfigSource source) =>
        configs.Where(c => keys is null || keys.Contains(c.Name)).Select(c => new DescribeConfigsResponse.DescribeConfigsResourceResult
        {
            Name = c.Name,
            Value = c.Value,
            ReadOnly = readOnly,
            ConfigSource = (sbyte)source,
            ConfigType = (sbyte)Topics.ConfigType.String,
        });

    private static void AddSynonyms(DescribeConfigsResponse.DescribeConfigsResourceResult entry, bool asked, IEnumerable<(string Name, string? Value, ConfigSource Source)> synonyms)
    {
        if (asked)
        {
            entry.Synonyms.AddRange(synonyms.Select(s => new DescribeConfigsResponse.DescribeConfigsSynonym { Name = s.Name, Value = s.Value, Source = (sbyte)s.Source }));
        }
    }

    /// <inheritdoc />
    protected override void MapRequestNames(DescribeConfigsRequest request, TenantNamespace tenant)
    {
        foreach (var resource in request.Resources)
        {
            resource.ResourceName = tenant.ToStored(resource.ResourceType, resource.ResourceName);
        }
    }

    /// <inheritdoc />
    protected override void MapResponseNames(DescribeConfigsResponse response, TenantNamespace tenant)
    {
        foreach (var result in response.Results)
        {
            result.ResourceName = tenant.ToTenant(result.ResourceType, result.ResourceName);
        }
    }

    /// <inheritdoc />
    protected override DescribeConfigsResponse? ErrorResponse(DescribeConfigsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Results = [.. request.Resources.Select(r => new DescribeConfigsResponse.DescribeConfigsResult { ResourceType = r.ResourceType, ResourceName = r.ResourceName, ErrorCode = (short)error, ErrorMessage = message })],
        };
}
