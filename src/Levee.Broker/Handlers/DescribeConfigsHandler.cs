using System.Globalization;
using Levee.Broker.Capacity;
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
/// documentation (v3+); the broker resource lists the broker's own settings as static configs; Levee's TENANT and
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
                        if (request.IncludeSynonyms)
                        {
                            foreach (var (name, value, source) in effective.Synonyms)
                            {
                                entry.Synonyms.Add(new DescribeConfigsResponse.DescribeConfigsSynonym { Name = name, Value = value, Source = (sbyte)source });
                            }
                        }

                        result.Configs.Add(entry);
                    }

                    break;
                case ConfigResourceType.Broker:
                    if (resource.ResourceName.Length > 0 && resource.ResourceName != identity.NodeId.ToString(CultureInfo.InvariantCulture))
                    {
                        result.ErrorCode = (short)ErrorCode.InvalidRequest;
                        result.ErrorMessage = $"Unexpected broker id, expected {identity.NodeId} but received {resource.ResourceName}";
                        break;
                    }

                    foreach (var (name, value) in BrokerConfigs())
                    {
                        if (keys is null || keys.Contains(name))
                        {
                            result.Configs.Add(new DescribeConfigsResponse.DescribeConfigsResourceResult
                            {
                                Name = name,
                                Value = value,
                                ReadOnly = true,
                                ConfigSource = (sbyte)ConfigSource.StaticBrokerConfig,
                                ConfigType = (sbyte)Topics.ConfigType.String,
                            });
                        }
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

    private IEnumerable<(string Name, string Value)> BrokerConfigs()
    {
        var c = CultureInfo.InvariantCulture;
        yield return ("node.id", identity.NodeId.ToString(c));
        yield return ("broker.id", identity.NodeId.ToString(c));
        yield return ("log.dirs", Path.GetFullPath(options.DataDir));
        yield return ("auto.create.topics.enable", options.AutoCreateTopics ? "true" : "false");
        yield return ("num.partitions", options.DefaultPartitions.ToString(c));
        yield return ("default.replication.factor", options.DefaultReplicationFactor.ToString(c));
        yield return ("socket.request.max.bytes", options.SocketRequestMaxBytes.ToString(c));
        yield return ("queued.max.request.bytes", options.ResolveQueuedMaxRequestBytes().ToString(c));
        yield return ("connections.max.idle.ms", options.ConnectionsMaxIdleMs.ToString(c));
        yield return ("request.arrival.timeout.ms", options.RequestArrivalTimeoutMs.ToString(c));
        yield return ("max.connections", options.MaxConnections.ToString(c));
        yield return ("log.retention.check.interval.ms", options.RetentionCheckIntervalMs.ToString(c));
        yield return ("log.cleaner.enable", options.LogCleanerEnable ? "true" : "false");
        yield return ("log.cleaner.threads", options.LogCleanerThreads.ToString(c));
        yield return ("log.cleaner.io.max.bytes.per.second", options.LogCleanerIoMaxBytesPerSecond.ToString(c));
        yield return ("log.cleaner.backoff.ms", options.LogCleanerBackoffMs.ToString(c));
        yield return ("log.cleaner.dedupe.buffer.size", options.LogCleanerDedupeBufferSize.ToString(c));
        yield return ("log.cleaner.io.buffer.load.factor", options.LogCleanerIoBufferLoadFactor.ToString(c));
        yield return ("offsets.topic.segment.bytes", options.OffsetsTopicSegmentBytes.ToString(c));
        var capacity = replicas.Limits;
        foreach (var resource in Levee.Cluster.Controller.BrokerCapacity.Resources)
        {
            yield return (Levee.Cluster.Controller.BrokerCapacity.Key(resource), capacity.Capacity[resource].ToString(c));
        }

        yield return (Levee.Cluster.Controller.HeadroomGuard.MarginKey, capacity.HeadroomMargin.ToString(c));
        foreach (var def in TopicConfigDefinitions.All.Values.Where(d => d.BrokerSynonym is not null).OrderBy(d => d.BrokerSynonym, StringComparer.Ordinal))
        {
            yield return (def.BrokerSynonym!, options.TopicConfigDefaults.TryGetValue(def.Name, out var v) ? v : def.Default);
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
