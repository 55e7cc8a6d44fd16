using System.Globalization;
using Levee.Broker.Topics;
using Levee.Cluster.Controller;

namespace Levee.Broker.Configs;

/// <summary>What a broker config's value is read from: the options it started with, its listeners, its capacity.</summary>
/// <param name="Options">The options the broker started with.</param>
/// <param name="Identity">Its id and bound listeners.</param>
/// <param name="Limits">Its resolved capacity and admin bounds.</param>
/// <param name="ClusterId">The cluster id in effect.</param>
public sealed record BrokerConfigContext(BrokerOptions Options, BrokerIdentity Identity, AdminLimits Limits, string ClusterId);

/// <summary>
/// One broker config as DescribeConfigs lists it: its name (Kafka's where Kafka has one), type, documentation, its
/// static value, whether it may change at run time (a dynamic broker config Levee applies), and how a value is checked.
/// </summary>
/// <param name="Name">The key.</param>
/// <param name="Type">Kafka's type; <see cref="ConfigType.Password"/> makes it sensitive.</param>
/// <param name="Documentation">One sentence.</param>
/// <param name="Value">The value the broker started with (its default when not given); null for Kafka's null.</param>
/// <param name="IsSet">Whether it was given at start; null: when <see cref="BrokerOptions.ConfiguredKeys"/> names it or its value is not the default.</param>
/// <param name="Dynamic">Whether IncrementalAlterConfigs may change it on a broker or the cluster default.</param>
/// <param name="Validate">Checks a dynamic value: null when valid, else why not.</param>
public sealed record BrokerConfigDefinition(string Name, ConfigType Type, string Documentation, Func<BrokerConfigContext, string?> Value, Func<BrokerOptions, bool>? IsSet = null, bool Dynamic = false, Func<string, string?>? Validate = null)
{
    /// <summary>Secrets: described with a null value, as Kafka does for its PASSWORD configs.</summary>
    public bool Sensitive => Type == ConfigType.Password;
}

/// <summary>
/// Every broker config Levee has (docs/compatibility.md, "Dynamic broker configs"). The dynamic ones are those Kafka
/// lets change at run time and Levee applies at once: the broker defaults of topic configs (log.retention.ms,
/// message.max.bytes, ...), which every topic without its own value follows, and Levee's broker.capacity.* limits,
/// which the controller's capacity model reads from the metadata image. Every other key is read only: changing it
/// needs a restart.
/// </summary>
public static class BrokerConfigDefinitions
{
    /// <summary>log.retention.hours: the default of retention.ms in hours, when log.retention.ms is not set.</summary>
    public const string RetentionHours = "log.retention.hours";

    /// <summary>log.retention.ms: the default of retention.ms.</summary>
    public const string RetentionMs = "log.retention.ms";

    /// <summary>Kafka's default of log.retention.hours: a week.</summary>
    public const string DefaultRetentionHours = "168";

    private const long MsPerHour = 3_600_000;

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    private static readonly BrokerOptions Defaults = new();

    /// <summary>Every broker config, by name, in the order DescribeConfigs lists them (by name).</summary>
    public static IReadOnlyDictionary<string, BrokerConfigDefinition> All { get; } = Build();

    /// <summary>
    /// The broker keys that set the default of topic config <paramref name="topicConfig"/>, in Kafka's synonym order,
    /// each with how its value becomes the topic config's (log.retention.hours counts hours; the others are the same).
    /// </summary>
    public static IEnumerable<(string Key, Func<string, string> ToTopicValue)> BrokerSynonyms(TopicConfigDefinition topicConfig)
    {
        ArgumentNullException.ThrowIfNull(topicConfig);
        if (topicConfig.BrokerSynonym is not { } key)
        {
            yield break;
        }

        yield return (key, v => v);
        if (topicConfig.Name == "retention.ms")
        {
            yield return (RetentionHours, v => long.TryParse(v, C, out var hours) && hours >= 0 ? (hours * MsPerHour).ToString(C) : v);
        }
    }

    private static Dictionary<string, BrokerConfigDefinition> Build()
    {
        BrokerConfigDefinition[] defs =
        [
            Int("node.id", "This broker's id.", o => o.NodeId),
            Int("broker.id", "This broker's id (the same as node.id).", o => o.NodeId, o => o.ConfiguredKeys.Contains("node.id") || o.NodeId != Defaults.NodeId),
            new("cluster.id", ConfigType.String, "The cluster's id, kept in meta.properties (Levee's setting).", c => c.ClusterId, o => o.ClusterId is not null),
            new("log.dirs", ConfigType.String, "The directory holding the partition logs and the metadata log.", c => Path.GetFullPath(c.Options.DataDir)),
            Str("host", "Host of the default PLAINTEXT listener when listeners is not set (Levee's setting).", o => o.Host),
            Int("port", "Port of the default PLAINTEXT listener when listeners is not set; 0 picks a free one (Levee's setting).", o => o.Port),
            new("listeners", ConfigType.String, "The listeners this broker binds, NAME://host:port,...", c => c.Options.Listeners ?? Endpoints(c.Identity), o => o.Listeners is not null),
            new("advertised.listeners", ConfigType.String, "The listeners published in Metadata, NAME://host:port,...", c => c.Options.AdvertisedListeners ?? Endpoints(c.Identity), o => o.AdvertisedListeners is not null),
            Str("listener.security.protocol.map", "The security protocol of each listener, NAME:PROTOCOL,...", o => o.ListenerSecurityProtocolMap),
            Str("inter.broker.listener.name", "The listener brokers reach each other on.", o => o.InterBrokerListenerName),
            Str("log.format", "The broker's own log lines: text or json (Levee's setting).", o => o.LogFormat.ToString().ToLowerInvariant()),
            Str("log.level", "The lowest level the broker logs (Levee's setting).", o => o.LogLevel.ToString()),
            Bool("auto.create.topics.enable", "Create a topic on first Metadata or Produce naming it.", o => o.AutoCreateTopics),
            Int("num.partitions", "Partitions of a topic created without a count.", o => o.DefaultPartitions),
            Int("default.replication.factor", "Replication factor of a topic created without one; -1 is min(3, brokers).", o => o.DefaultReplicationFactor),
            Int("socket.request.max.bytes", "The largest request accepted.", o => o.SocketRequestMaxBytes),
            Int("quota.window.num", "Samples a client quota is measured over.", o => o.QuotaWindowNum),
            Int("quota.window.size.seconds", "Length of one quota sample.", o => o.QuotaWindowSizeSeconds),
            new("queued.max.request.bytes", ConfigType.Long, "Request bytes all connections together hold in memory.", c => c.Options.ResolveQueuedMaxRequestBytes().ToString(C), o => o.QueuedMaxRequestBytes is not null),
            new("queued.max.request.bytes.per.tenant", ConfigType.Long, "Request bytes one tenant's connections hold in memory (Levee's setting).", c => c.Options.ResolveQueuedMaxRequestBytesPerTenant().ToString(C), o => o.QueuedMaxRequestBytesPerTenant is not null),
            Long("connections.max.idle.ms", "Idle connections are closed after this long.", o => o.ConnectionsMaxIdleMs),
            Long("request.arrival.timeout.ms", "A request must arrive whole within this time of its first byte (Levee's setting).", o => o.RequestArrivalTimeoutMs),
            Int("max.connections", "The most connections served at once.", o => o.MaxConnections),
            Long("log.retention.check.interval.ms", "How often logs are checked for segments to delete.", o => o.RetentionCheckIntervalMs),
            Bool("log.cleaner.enable", "Run the log cleaner for compacted topics.", o => o.LogCleanerEnable),
            Int("log.cleaner.threads", "Log cleaner threads.", o => o.LogCleanerThreads),
            Double("log.cleaner.io.max.bytes.per.second", "The log cleaner threads' I/O, together.", o => o.LogCleanerIoMaxBytesPerSecond),
            Long("log.cleaner.backoff.ms", "An idle cleaner thread's sleep.", o => o.LogCleanerBackoffMs),
            Long("log.cleaner.dedupe.buffer.size", "Memory of all cleaner threads' offset maps.", o => o.LogCleanerDedupeBufferSize),
            Double("log.cleaner.io.buffer.load.factor", "How full a cleaner's offset map may get.", o => o.LogCleanerIoBufferLoadFactor),
            Long("producer.id.expiration.ms", "An idle idempotent producer's state is dropped after this long.", o => o.ProducerIdExpirationMs),
            Int("group.initial.rebalance.delay.ms", "How long the first rebalance of an empty group waits for more members.", o => o.GroupInitialRebalanceDelayMs),
            Int("group.min.session.timeout.ms", "The smallest session timeout a member may ask for.", o => o.GroupMinSessionTimeoutMs),
            Int("group.max.session.timeout.ms", "The largest session timeout a member may ask for.", o => o.GroupMaxSessionTimeoutMs),
            Int("group.max.size", "The most members of a classic group.", o => o.GroupMaxSize),
            Int("offsets.topic.num.partitions", "Partitions of __consumer_offsets.", o => o.OffsetsTopicPartitions),
            Int("offsets.topic.segment.bytes", "Segment size of __consumer_offsets.", o => o.OffsetsTopicSegmentBytes),
            Long("offsets.retention.minutes", "How long the offsets of an empty group are kept.", o => o.OffsetsRetentionMinutes),
            Long("offsets.retention.check.interval.ms", "How often expired offsets are looked for.", o => o.OffsetsRetentionCheckIntervalMs),
            Int("offset.metadata.max.bytes", "The largest metadata an offset commit may carry.", o => o.OffsetMetadataMaxBytes),
            Int("transaction.state.log.num.partitions", "Partitions of __transaction_state.", o => o.TransactionStateLogPartitions),
            Int("transaction.state.log.replication.factor", "Replication factor of __transaction_state.", o => o.TransactionStateLogReplicationFactor),
            Int("transaction.state.log.min.isr", "min.insync.replicas of __transaction_state.", o => o.TransactionStateLogMinIsr),
            Int("transaction.state.log.segment.bytes", "Segment size of __transaction_state.", o => o.TransactionStateLogSegmentBytes),
            Int("transaction.max.timeout.ms", "The longest transaction timeout a producer may ask for.", o => o.TransactionMaxTimeoutMs),
            Int("transaction.abort.timed.out.transaction.cleanup.interval.ms", "How often timed-out transactions are aborted.", o => o.TransactionAbortTimedOutCleanupIntervalMs),
            new("controller.quorum.voters", ConfigType.List, "The metadata quorum, id@host:port,...", c => c.Options.QuorumVoters, o => o.QuorumVoters is not null),
            Int("quorum.port", "Port of the Raft listener when controller.quorum.voters is not set (Levee's setting).", o => o.QuorumPort),
            Str("quorum.security.protocol", "PLAINTEXT or SSL for the metadata quorum (Levee's setting).", o => o.QuorumSecurityProtocol.ToString().ToUpperInvariant()),
            Int("broker.session.timeout.ms", "A broker whose heartbeats stop this long is fenced.", o => o.BrokerSessionTimeoutMs),
            Int("broker.heartbeat.interval.ms", "How often a broker heartbeats to the controller.", o => o.BrokerHeartbeatIntervalMs),
            Long("replica.lag.time.max.ms", "A follower not caught up this long leaves the ISR.", o => o.ReplicaLagTimeMaxMs),
            Int("replica.fetch.wait.max.ms", "A follower's fetch max wait.", o => o.ReplicaFetchWaitMaxMs),
            Int("replica.socket.timeout.ms", "A replica fetch unanswered this long after its max wait is retried.", o => o.ReplicaSocketTimeoutMs),
            Long("leader.imbalance.check.interval.seconds", "How often preferred leaders are restored.", o => o.LeaderImbalanceCheckIntervalSeconds),
            Int("controller.max.records.per.user.op", "The most metadata records one admin request may produce (Levee's setting).", o => o.MaxRecordsPerUserOp),
            Int("max.partitions.per.topic", "The most partitions of one topic (Levee's setting).", o => o.MaxPartitionsPerTopic),
            Capacity(CapacityResource.Partitions, o => o.BrokerCapacityPartitions != Defaults.BrokerCapacityPartitions || o.ConfiguredKeys.Contains(BrokerCapacity.Key(CapacityResource.Partitions))),
            Capacity(CapacityResource.DiskBytes, o => o.BrokerCapacityDiskBytes is not null),
            Capacity(CapacityResource.BytesInPerSec, o => o.BrokerCapacityBytesInPerSec is not null),
            Capacity(CapacityResource.BytesOutPerSec, o => o.BrokerCapacityBytesOutPerSec is not null),
            Capacity(CapacityResource.Connections, o => o.BrokerCapacityConnections is not null),
            Double(HeadroomGuard.MarginKey, "The part of every capacity limit that must stay free after the loss of any one broker (Levee's setting).", o => o.HeadroomMargin),
            Long("broker.failure.self.healing.threshold.ms", "How long a broker must be down before its replicas are re-created elsewhere.", o => o.SelfHealingThresholdMs),
            Int("self.healing.max.concurrent.replicas", "Replicas re-created at once, cluster-wide (Levee's setting).", o => o.SelfHealingMaxConcurrentReplicas),
            new("leader.replication.throttled.rate", ConfigType.Long, "Bytes per second a leader sends to followers catching up.", c => c.Options.LeaderReplicationThrottledRate?.ToString(C), o => o.LeaderReplicationThrottledRate is not null),
            new("sasl.enabled.mechanisms", ConfigType.List, "The SASL mechanisms offered.", c => c.Options.SaslEnabledMechanisms),
            Int("connection.failed.authentication.delay.ms", "How long a failed authentication waits before it is answered.", o => o.ConnectionFailedAuthenticationDelayMs),
            Long("connections.max.reauth.ms", "A SASL session's lifetime; 0 keeps it for the connection's life.", o => o.ConnectionsMaxReauthMs),
            Str("ssl.keystore.type", "The format of the keystore.", o => o.SslKeystoreType),
            Str("ssl.keystore.location", "The PEM file of this broker's key and certificate chain.", o => o.SslKeystoreLocation),
            new("ssl.key.password", ConfigType.Password, "The password of the keystore's private key.", c => c.Options.SslKeyPassword is null ? null : "", o => o.SslKeyPassword is not null),
            Str("ssl.truststore.type", "The format of the truststore.", o => o.SslTruststoreType),
            Str("ssl.truststore.location", "The PEM bundle of the CAs certificates must chain to.", o => o.SslTruststoreLocation),
            Str("ssl.client.auth", "Whether TLS listeners ask clients for a certificate.", o => o.SslClientAuth.ToString().ToLowerInvariant()),
            new("ssl.principal.mapping.rules", ConfigType.List, "How a certificate's subject becomes a principal name.", c => c.Options.SslPrincipalMappingRules ?? "DEFAULT", o => o.SslPrincipalMappingRules is not null),
            Str("ssl.endpoint.identification.algorithm", "Whether another broker's certificate must name its host.", o => o.SslEndpointIdentificationAlgorithm),
            Bool("authorizer.enabled", "Check requests against the ACLs (Levee's setting).", o => o.AuthorizerEnabled),
            new("super.users", ConfigType.String, "Principals allowed every operation.", c => string.Join(';', c.Options.SuperUsers.Order(StringComparer.Ordinal)), o => o.SuperUsers.Count > 0),
            Bool("allow.everyone.if.no.acl.found", "With the authorizer on, a resource no ACL names is open to everyone.", o => o.AllowEveryoneIfNoAclFound),
            Str("admin.listener", "host:port of the admin HTTP listener (Levee's setting).", o => o.AdminListener),
            new("admin.token", ConfigType.Password, "The bearer token of the admin HTTP API (Levee's setting).", c => c.Options.AdminToken is null ? null : "", o => o.AdminToken is not null),
            new(RetentionHours, ConfigType.Int, "The number of hours to keep a log segment: the default of retention.ms when log.retention.ms is not set.", c => StaticValue(c.Options, RetentionHours) ?? DefaultRetentionHours, o => o.LogRetentionHours is not null, Dynamic: true, Validate: v => int.TryParse(v, C, out var h) && h >= -1 ? null : "must be an int of -1 or more"),
            .. TopicConfigDefinitions.All.Values.Where(d => d.BrokerSynonym is not null).Select(TopicDefault),
        ];
        return defs.OrderBy(d => d.Name, StringComparer.Ordinal).ToDictionary(d => d.Name, StringComparer.Ordinal);
    }

    // A broker default of a topic config: dynamic, checked as the topic config is.
    private static BrokerConfigDefinition TopicDefault(TopicConfigDefinition topic) =>
        new(topic.BrokerSynonym!, topic.Type, topic.Documentation, c => StaticValue(c.Options, topic.BrokerSynonym!) ?? (topic.Name == "retention.ms" ? null : topic.Default), o => StaticValue(o, topic.BrokerSynonym!) is not null, Dynamic: true, Validate: topic.Validate);

    /// <summary>
    /// The value broker key <paramref name="key"/>, a topic config's broker default (or log.retention.hours), was given
    /// at start; null when it was not. A retention.ms given as log.retention.hours alone is log.retention.hours's.
    /// </summary>
    public static string? StaticValue(BrokerOptions options, string key)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (key == RetentionHours)
        {
            return options.LogRetentionHours?.ToString(C);
        }

        var topic = TopicConfigDefinitions.All.Values.First(d => d.BrokerSynonym == key).Name;
        var hoursOnly = topic == "retention.ms" && options.LogRetentionHours is not null && !options.ConfiguredKeys.Contains(key);
        return !hoursOnly && options.TopicConfigDefaults.TryGetValue(topic, out var value) ? value : null;
    }

    private static BrokerConfigDefinition Capacity(CapacityResource resource, Func<BrokerOptions, bool> isSet) =>
        new(BrokerCapacity.Key(resource), ConfigType.Long, $"This broker's {BrokerCapacity.Name(resource).Replace('_', ' ')} limit in the capacity model (Levee's setting).", c => c.Limits.Capacity[resource].ToString(C), isSet, Dynamic: true,
            Validate: v => long.TryParse(v, NumberStyles.None, C, out var l) && l > 0 ? null : "must be a positive long");

    private static string Endpoints(BrokerIdentity identity) => string.Join(',', identity.Endpoints.Select(e => $"{e.Name}://{e.Host}:{e.Port.ToString(C)}"));

    private static BrokerConfigDefinition Str(string name, string doc, Func<BrokerOptions, string?> value) => new(name, ConfigType.String, doc, c => value(c.Options));

    private static BrokerConfigDefinition Int(string name, string doc, Func<BrokerOptions, int> value, Func<BrokerOptions, bool>? isSet = null) => new(name, ConfigType.Int, doc, c => value(c.Options).ToString(C), isSet);

    private static BrokerConfigDefinition Long(string name, string doc, Func<BrokerOptions, long> value) => new(name, ConfigType.Long, doc, c => value(c.Options).ToString(C));

    private static BrokerConfigDefinition Double(string name, string doc, Func<BrokerOptions, double> value) => new(name, ConfigType.Double, doc, c => value(c.Options).ToString(C));

    private static BrokerConfigDefinition Bool(string name, string doc, Func<BrokerOptions, bool> value) => new(name, ConfigType.Boolean, doc, c => value(c.Options) ? "true" : "false");

    /// <summary>Whether <paramref name="definition"/> was given at start.</summary>
    public static bool IsStatic(BrokerConfigDefinition definition, BrokerConfigContext context)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(context);
        return definition.IsSet?.Invoke(context.Options)
            ?? (context.Options.ConfiguredKeys.Contains(definition.Name) || definition.Value(context) != definition.Value(context with { Options = Defaults }));
    }

    /// <summary>The value of <paramref name="definition"/> when nothing sets it.</summary>
    public static string? DefaultValue(BrokerConfigDefinition definition, BrokerConfigContext context)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(context);
        return definition.Value(context with { Options = Defaults });
    }
}
