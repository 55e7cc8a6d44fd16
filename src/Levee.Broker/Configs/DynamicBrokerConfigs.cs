using System.Collections.Immutable;
using System.Globalization;
using Levee.Broker.Topics;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Broker.Configs;

/// <summary>A broker config as DescribeConfigs reports it: its value (null for a secret), source and synonyms.</summary>
/// <param name="Definition">The config.</param>
/// <param name="Value">Its value in effect; null for a secret or Kafka's null.</param>
/// <param name="Source">Where the value comes from.</param>
/// <param name="Synonyms">Every value that could apply, the one in effect first (Kafka's order).</param>
public sealed record BrokerConfigEntry(BrokerConfigDefinition Definition, string? Value, ConfigSource Source, IReadOnlyList<(string Name, string? Value, ConfigSource Source)> Synonyms);

/// <summary>A broker-level value that may set a topic config's default, and that value as the topic config's.</summary>
/// <param name="Name">The broker key (log.retention.ms, log.retention.hours, ...).</param>
/// <param name="Value">Its value.</param>
/// <param name="Source">Where it comes from.</param>
/// <param name="TopicValue">The value it gives the topic config.</param>
public readonly record struct TopicDefaultSynonym(string Name, string Value, ConfigSource Source, string TopicValue);

/// <summary>
/// Kafka's dynamic broker configs (KIP-226), kept as BROKER config records in the metadata log: a broker's own (the
/// resource named by its id) before the cluster default (the resource named ""), before the value it started with,
/// before the default. Every broker reads them from its metadata image, so they reach all brokers and survive restarts.
/// </summary>
public static class DynamicBrokerConfigs
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>The dynamic configs of broker <paramref name="nodeId"/> alone.</summary>
    public static ImmutableSortedDictionary<string, string> PerBroker(MetadataImage image, int nodeId)
    {
        ArgumentNullException.ThrowIfNull(image);
        return image.GetConfigs(ConfigResourceType.Broker, nodeId.ToString(C));
    }

    /// <summary>The dynamic configs every broker takes unless it has its own.</summary>
    public static ImmutableSortedDictionary<string, string> ClusterDefault(MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return image.GetConfigs(ConfigResourceType.Broker, "");
    }

    /// <summary>
    /// The configs of a BROKER resource as Kafka describes them: for the broker <paramref name="context"/> describes,
    /// every config; for the cluster default (<paramref name="clusterDefault"/>), only the dynamic defaults set on it,
    /// with the synonyms behind them but no broker's own. Synonyms come by source (this broker's dynamic values, the
    /// cluster default's, the static ones, the defaults) and, within one, by name (log.retention.ms and
    /// log.retention.hours are synonyms of each other). The value is the config's own; the source the first synonym's.
    /// </summary>
    public static IEnumerable<BrokerConfigEntry> Describe(MetadataImage image, BrokerConfigContext context, bool clusterDefault)
    {
        ArgumentNullException.ThrowIfNull(context);
        var own = clusterDefault ? ImmutableSortedDictionary<string, string>.Empty : PerBroker(image, context.Identity.NodeId);
        var all = ClusterDefault(image);
        foreach (var definition in BrokerConfigDefinitions.All.Values.Where(d => !clusterDefault || all.ContainsKey(d.Name)))
        {
            var names = definition.Name is BrokerConfigDefinitions.RetentionHours or BrokerConfigDefinitions.RetentionMs
                ? [BrokerConfigDefinitions.All[BrokerConfigDefinitions.RetentionMs], BrokerConfigDefinitions.All[BrokerConfigDefinitions.RetentionHours]]
                : new[] { definition };
            var synonyms = new List<(string Name, string? Value, ConfigSource Source)>();
            synonyms.AddRange(names.Where(d => own.ContainsKey(d.Name)).Select(d => (d.Name, (string?)own[d.Name], ConfigSource.DynamicBrokerConfig)));
            synonyms.AddRange(names.Where(d => all.ContainsKey(d.Name)).Select(d => (d.Name, (string?)all[d.Name], ConfigSource.DynamicDefaultBrokerConfig)));
            synonyms.AddRange(names.Where(d => BrokerConfigDefinitions.IsStatic(d, context)).Select(d => (d.Name, d.Value(context), ConfigSource.StaticBrokerConfig)));

            // Kafka lists a default only where there is one (log.retention.ms has none: log.retention.hours applies).
            synonyms.AddRange(names.Select(d => (d.Name, BrokerConfigDefinitions.DefaultValue(d, context), ConfigSource.DefaultConfig)).Where(s => s.Item2 is not null));
            var value = own.TryGetValue(definition.Name, out var dynamic) || all.TryGetValue(definition.Name, out dynamic) ? dynamic : definition.Value(context);
            yield return Entry(definition, value, synonyms);
        }
    }

    /// <summary>
    /// The broker-level values that may set topic config <paramref name="topic"/>'s default on broker
    /// <paramref name="options"/>' node, in Kafka's order: this broker's dynamic values, the cluster default's, the
    /// static ones (each for every broker key, log.retention.ms before log.retention.hours), then the default. The
    /// first is in effect for a topic without its own value; the list is never empty.
    /// </summary>
    public static List<TopicDefaultSynonym> TopicDefaults(BrokerOptions options, MetadataImage image, TopicConfigDefinition topic)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(topic);
        var keys = BrokerConfigDefinitions.BrokerSynonyms(topic).ToList();
        var synonyms = new List<TopicDefaultSynonym>();
        void Add(ConfigSource source, Func<string, string?> valueOf)
        {
            foreach (var (key, toTopicValue) in keys)
            {
                if (valueOf(key) is { } value)
                {
                    synonyms.Add(new(key, value, source, toTopicValue(value)));
                }
            }
        }

        var own = PerBroker(image, options.NodeId);
        var all = ClusterDefault(image);
        Add(ConfigSource.DynamicBrokerConfig, own.GetValueOrDefault);
        Add(ConfigSource.DynamicDefaultBrokerConfig, all.GetValueOrDefault);
        Add(ConfigSource.StaticBrokerConfig, key => BrokerConfigDefinitions.StaticValue(options, key));

        // Kafka's default of retention.ms is log.retention.hours's (log.retention.ms has none).
        var (name, fallback, topicValue) = keys.Any(k => k.Key == BrokerConfigDefinitions.RetentionHours)
            ? (BrokerConfigDefinitions.RetentionHours, BrokerConfigDefinitions.DefaultRetentionHours, topic.Default)
            : (topic.BrokerSynonym ?? topic.Name, topic.Default, topic.Default);
        synonyms.Add(new(name, fallback, ConfigSource.DefaultConfig, topicValue));
        return synonyms;
    }

    /// <summary>
    /// The records that change the dynamic configs of BROKER resource <paramref name="resourceName"/> (a broker id, or
    /// "" for the cluster default) as <paramref name="change"/> says, or Kafka's refusal: INVALID_REQUEST naming every
    /// key that cannot change at run time (the whole resource is refused), or the first invalid value.
    /// </summary>
    public static Decision Alter(MetadataImage image, string resourceName, Func<ImmutableSortedDictionary<string, string>, ImmutableSortedDictionary<string, string>> change)
    {
        ArgumentNullException.ThrowIfNull(resourceName);
        ArgumentNullException.ThrowIfNull(change);
        if (resourceName.Length > 0 && !int.TryParse(resourceName, NumberStyles.None, C, out _))
        {
            return Decision.Fail(ErrorCode.InvalidRequest, "Unable to parse broker name as a base 10 number.");
        }

        var current = image.GetConfigs(ConfigResourceType.Broker, resourceName);
        var wanted = change(current);
        var changed = wanted.Where(c => !current.TryGetValue(c.Key, out var v) || v != c.Value).Select(c => c.Key)
            .Concat(current.Keys.Where(k => !wanted.ContainsKey(k))).ToList();
        var fixedKeys = changed.Where(k => !(BrokerConfigDefinitions.All.TryGetValue(k, out var d) && d.Dynamic)).ToList();
        if (fixedKeys.Count > 0)
        {
            return Decision.Fail(ErrorCode.InvalidRequest, $"Cannot update these configs dynamically: Set({string.Join(", ", fixedKeys)})");
        }

        foreach (var key in changed)
        {
            if (wanted.TryGetValue(key, out var value) && BrokerConfigDefinitions.All[key].Validate?.Invoke(value) is { } problem)
            {
                return Decision.Fail(ErrorCode.InvalidRequest, $"Invalid value {value} for configuration {key}: {problem}");
            }
        }

        return Decision.Commit([.. changed.Select(k => new ConfigRecord(ConfigResourceType.Broker, resourceName, k, wanted.GetValueOrDefault(k)))]);
    }

    private static BrokerConfigEntry Entry(BrokerConfigDefinition definition, string? value, List<(string Name, string? Value, ConfigSource Source)> synonyms)
    {
        var source = synonyms.Count > 0 ? synonyms[0].Source : ConfigSource.DefaultConfig;
        return definition.Sensitive
            ? new BrokerConfigEntry(definition, null, source, [.. synonyms.Select(s => (s.Name, (string?)null, s.Source))])
            : new BrokerConfigEntry(definition, value, source, synonyms);
    }
}
