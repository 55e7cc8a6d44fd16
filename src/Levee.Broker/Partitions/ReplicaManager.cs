using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using Levee.Broker.Cluster;
using Levee.Broker.Configs;
using Levee.Broker.Topics;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Levee.Storage;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Partitions;

/// <summary>The outcome of a topic-level admin operation: Kafka's error code and message.</summary>
public readonly record struct AdminResult(ErrorCode Error, string? Message)
{
    /// <summary>Success.</summary>
    public static AdminResult Ok => new(ErrorCode.None, null);
}

/// <summary>A config value as DescribeConfigs reports it.</summary>
public sealed record EffectiveConfig(TopicConfigDefinition Definition, string Value, ConfigSource Source, IReadOnlyList<(string Name, string Value, ConfigSource Source)> Synonyms);

/// <summary>
/// The partition replicas this broker holds, driven by the metadata image: when the image assigns
/// a replica here, its log is opened (recovered if need be) and it becomes leader or follower as the
/// image says; followers fetch from their leader; leaders ask the controller to shrink or expand
/// the ISR. Topic admin requests (create, delete, partitions, configs) become controller decisions
/// committed through the metadata quorum.
/// </summary>
public sealed partial class ReplicaManager : IAsyncDisposable
{
    private int _disposeCount;
    private readonly ConcurrentDictionary<TopicPartition, Partition> _partitions = new();
    private readonly Lock _applyLock = new();
    private readonly BrokerOptions _options;
    private AdminLimits? _limits;
    private readonly MetadataQuorum _quorum;
    private readonly ControllerService _controller;
    private readonly ControllerChannel _channel;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private Guid _incarnationId;

    private ReplicaManager(BrokerOptions options, LogManager logs, MetadataQuorum quorum, ControllerService controller, ControllerChannel channel, TimeProvider time, ILogger logger)
    {
        _options = options;
        Logs = logs;
        _quorum = quorum;
        _controller = controller;
        _channel = channel;
        _time = time;
        _logger = logger;
        Topics = new TopicCatalog(quorum);
    }

    /// <summary>Raised after the partitions were brought in line with a new image (followers to start, leaders to watch).</summary>
    public event EventHandler? PartitionsChanged;

    /// <summary>Topic metadata from the current image.</summary>
    public TopicCatalog Topics { get; }

    /// <summary>The current metadata image.</summary>
    public MetadataImage Image => _quorum.Current;

    /// <summary>The logs on disk.</summary>
    public LogManager Logs { get; }

    /// <summary>This broker's id.</summary>
    public int LocalBrokerId => _options.NodeId;

    /// <summary>The cluster id (from meta.properties, or cluster.id).</summary>
    public string ClusterId => Logs.ClusterId;

    /// <summary>Every partition replica held here.</summary>
    public IEnumerable<Partition> Partitions => _partitions.Values;

    /// <summary>
    /// Opens the data directory (recovering every log) and follows the metadata image from then on. Partition data
    /// stops <paramref name="space"/>'s reserve short of a full disk.
    /// </summary>
    public static ReplicaManager Open(BrokerOptions options, BrokerIdentity identity, MetadataQuorum quorum, ControllerService controller, ControllerChannel channel, ILoggerFactory loggerFactory, TimeProvider time, LogDirectorySpace? space = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(quorum);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        Directory.CreateDirectory(options.DataDir);
        var logs = LogManager.Open(
            new LogManagerOptions
            {
                DataDirectory = options.DataDir,
                NodeId = options.NodeId,
                ClusterId = options.ResolveClusterId(),
                RetentionCheckIntervalMs = options.RetentionCheckIntervalMs,
                CleanerEnable = options.LogCleanerEnable,
                CleanerThreads = options.LogCleanerThreads,
                CleanerIoMaxBytesPerSecond = options.LogCleanerIoMaxBytesPerSecond,
                CleanerBackoffMs = options.LogCleanerBackoffMs,
                CleanerDedupeBufferSize = options.LogCleanerDedupeBufferSize,
                CleanerIoBufferLoadFactor = options.LogCleanerIoBufferLoadFactor,
                Space = space,
                TopicConfig = name => quorum.Current.TopicsByName.TryGetValue(name, out var topic)
                    ? LogConfigFor(options, quorum.Current, TopicCatalog.Describe(quorum.Current, topic))
                    : LogConfig.Default with { ProducerIdExpirationMs = options.ProducerIdExpirationMs },
            },
            loggerFactory,
            time);
        var manager = new ReplicaManager(options, logs, quorum, controller, channel, time, loggerFactory.CreateLogger<ReplicaManager>()) { _incarnationId = identity.IncarnationId };
        quorum.ImageChanged += (_, e) => manager.ApplyImage(e.Current);
        manager.ApplyImage(quorum.Current);
        return manager;
    }

    /// <summary>
    /// Kafka's getPartitionOrError for a partition this broker holds no replica of: NOT_LEADER_OR_FOLLOWER when the
    /// cluster has it (the client refreshes its metadata and goes to the leader), UNKNOWN_TOPIC_OR_PARTITION otherwise.
    /// </summary>
    public ErrorCode NotHostedError(string topic, int partition) =>
        Image.GetPartition(topic, partition) is null ? ErrorCode.UnknownTopicOrPartition : ErrorCode.NotLeaderOrFollower;

    /// <summary>Finds a partition replica held here (leader or follower).</summary>
    public bool TryGetPartition(string topic, int partition, out Partition result) =>
        _partitions.TryGetValue(new TopicPartition(topic, partition), out result!);

    /// <summary>Brings the local replicas in line with <paramref name="image"/>.</summary>
    public void ApplyImage(MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        lock (_applyLock)
        {
            // Right after a start the image may still be replaying the metadata log: a log on disk of another
            // topic generation is replaced only once the image is known to be at least as new as this process
            // (it holds this incarnation's registration), so a stale image never deletes a newer topic's log.
            var caughtUp = image.Brokers.TryGetValue(_options.NodeId, out var self) && self.IncarnationId == _incarnationId;
            var wanted = new HashSet<TopicPartition>();
            foreach (var topic in image.TopicsByName.Values)
            {
                var info = TopicCatalog.Describe(image, topic);
                var config = LogConfigFor(_options, image, info);
                var policy = ProducePolicyFor(image, info);
                foreach (var state in topic.Partitions.Values)
                {
                    if (!state.Replicas.Contains(_options.NodeId))
                    {
                        continue;
                    }

                    var tp = new TopicPartition(topic.Name, state.PartitionId);
                    wanted.Add(tp);
                    if (_partitions.TryGetValue(tp, out var partition) && partition.TopicId == topic.Id)
                    {
                        if (partition.Log.Config != config)
                        {
                            partition.Log.UpdateConfig(config);
                        }

                        partition.Policy = policy;
                        partition.ApplyState(state);
                    }
                    else if (partition is not null || caughtUp || Logs.StoredTopicId(tp) is not { } stored || stored == topic.Id)
                    {
                        try
                        {
                            // A replica of an earlier topic of the same name is replaced: GetOrCreate deletes its log.
                            _partitions[tp] = new Partition(tp, state, Logs.GetOrCreate(tp, config, topic.Id), _options.NodeId, _time) { Policy = policy };
                        }
                        catch (IOException ex)
                        {
                            // Out of disk or file handles: this replica stays offline here (clients get
                            // NOT_LEADER_OR_FOLLOWER / the follower lags out of the ISR); the broker keeps serving.
                            _partitions.TryRemove(tp, out _);
                            LogReplicaOpenFailed(tp.ToString(), DiskSpace.Describe(ex), DiskSpace.StackTraceWorthy(ex));
                        }
                    }
                }
            }

            // Replicas no longer assigned here (their topic deleted) go, all at once: one checkpoint for the
            // batch, the files removed in the background, however many partitions the topic had.
            var gone = _partitions.Keys.Where(tp => !wanted.Contains(tp)).ToList();
            foreach (var tp in gone)
            {
                _partitions.TryRemove(tp, out _);
            }

            if (gone.Count > 0)
            {
                var deleted = Logs.DeleteMany(gone);
                LogReplicasDeleted(deleted, string.Join(", ", gone.Select(tp => tp.Topic).Distinct().Take(5)));
            }
        }

        PartitionsChanged?.Invoke(this, EventArgs.Empty);
    }

    /// <summary>Creates a topic, or only checks that it could be created when <paramref name="validateOnly"/>.</summary>
    public async Task<(AdminResult Result, TopicInfo? Created)> CreateTopicAsync(string name, int partitions, short replicationFactor, IReadOnlyList<ImmutableArray<int>>? assignment, IReadOnlyDictionary<string, string?> configs, bool validateOnly, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(configs);
        if (!TopicPartition.IsValidTopicName(name, out var nameProblem))
        {
            return (new AdminResult(ErrorCode.InvalidTopic, nameProblem), null);
        }

        foreach (var (key, value) in configs)
        {
            var problem = TopicConfigDefinitions.Validate(key, value);
            if (problem is not null)
            {
                return (new AdminResult(ErrorCode.InvalidConfig, problem), null);
            }
        }

        var requestedPartitions = partitions;
        var requestedReplicationFactor = replicationFactor;
        var topicId = Guid.NewGuid();
        var overrides = configs.ToDictionary(c => c.Key, c => c.Value!, StringComparer.Ordinal);

        // Defaults are resolved against the deciding image (the controller's), where every broker's
        // registration and fencing is current: -1 partitions is num.partitions, -1 replicas is
        // default.replication.factor, or min(3, available brokers) when that is -1 too.
        Decision Decide(MetadataImage image)
        {
            var available = image.Brokers.Values.Count(b => !b.Fenced && !b.InControlledShutdown);
            partitions = requestedPartitions == -1 ? _options.DefaultPartitions : requestedPartitions;
            replicationFactor = requestedReplicationFactor != -1 ? requestedReplicationFactor
                : _options.DefaultReplicationFactor > 0 ? _options.DefaultReplicationFactor
                : (short)Math.Clamp(available, 1, 3);
            var collision = image.TopicsByName.Keys.FirstOrDefault(t => t != name && t.Replace('.', '_') == name.Replace('.', '_'));
            return collision is not null
                ? Decision.Fail(ErrorCode.InvalidTopic, $"Topic '{name}' collides with existing topic: {collision}")
                : ControllerDecisions.CreateTopic(image, name, topicId, partitions, replicationFactor, assignment, overrides, new Random(), Limits);
        }

        var decision = validateOnly ? Decide(Image)
            : _controller.IsActive ? await _controller.DecideAsync(Decide, cancellationToken).ConfigureAwait(false)
            : await ForwardCreateTopicAsync(name, requestedPartitions, requestedReplicationFactor, assignment, overrides, cancellationToken).ConfigureAwait(false);
        if (!validateOnly && decision.Error == ErrorCode.RequestTimedOut && await WaitForTopicAsync(name, cancellationToken).ConfigureAwait(false) is { } late
            && (late.TopicId == topicId || !_controller.IsActive))
        {
            // The quorum was slow to answer, but the topic was created (by this request: its id, or forwarded):
            // say what happened rather than a timeout for a change that took effect.
            decision = Decision.Commit([]);
        }

        if (!validateOnly && !_controller.IsActive && decision.Error == ErrorCode.None)
        {
            // Created by the controller: report what it made once this broker's image has it.
            return await WaitForTopicAsync(name, cancellationToken).ConfigureAwait(false) is { } forwarded
                ? (AdminResult.Ok, forwarded)
                : (new AdminResult(ErrorCode.RequestTimedOut, $"Topic '{name}' was created but is not yet visible on broker {_options.NodeId}."), null);
        }

        if (decision.Error != ErrorCode.None)
        {
            return (new AdminResult(decision.Error, decision.Message), null);
        }

        var created = new TopicInfo(name, topicId, assignment?.Count ?? partitions, overrides.ToImmutableSortedDictionary(StringComparer.Ordinal));
        if (!validateOnly)
        {
            LogTopicCreated(name, created.PartitionCount, replicationFactor);
        }

        return (AdminResult.Ok, created);
    }

    private async Task<TopicInfo?> WaitForTopicAsync(string name, CancellationToken cancellationToken) =>
        await WaitForImageAsync(() => Topics.TryGet(name, out _), cancellationToken).ConfigureAwait(false)
            && Topics.TryGet(name, out var topic) ? topic : null;

    private Task<bool> WaitForTopicGoneAsync(string name, CancellationToken cancellationToken) =>
        WaitForImageAsync(() => !Topics.TryGet(name, out _), cancellationToken);

    // The metadata log reaches every broker within milliseconds; give a condition on the image a few seconds at most.
    private async Task<bool> WaitForImageAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            while (!condition())
            {
                await _quorum.WaitForOffsetAsync(Image.Offset + 1, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Not in time: the last look below decides.
        }

        return condition();
    }

    /// <summary>num.partitions: the partition count of a topic created without one.</summary>
    public int DefaultPartitions => _options.DefaultPartitions;

    /// <summary>The admin bounds this broker's controller applies (configurable; Kafka's defaults).</summary>
    public AdminLimits Limits => _limits ??= _options.ResolveAdminLimits();

    /// <summary>Creates a topic named by a client when auto.create.topics.enable allows it.</summary>
    public async Task<TopicInfo?> TryAutoCreateAsync(string name, CancellationToken cancellationToken)
    {
        if (Topics.TryGet(name, out var topic))
        {
            return topic;
        }

        if (!_options.AutoCreateTopics)
        {
            return null;
        }

        var (result, created) = await CreateTopicAsync(name, -1, -1, null, ImmutableDictionary<string, string?>.Empty, validateOnly: false, cancellationToken).ConfigureAwait(false);

        // Another request created it first (another client, or another broker's automatic creation): the
        // controller decided once; this one waits to see that topic rather than failing.
        return result.Error == ErrorCode.TopicAlreadyExists ? await WaitForTopicAsync(name, cancellationToken).ConfigureAwait(false) : created;
    }

    /// <summary>Deletes a topic; every replica deletes its logs when the image drops it.</summary>
    public async Task<AdminResult> DeleteTopicAsync(string name, CancellationToken cancellationToken)
    {
        if (TopicCatalog.IsInternal(name))
        {
            // Kafka keeps its internal topics out of clients' reach: deleting __consumer_offsets loses every
            // group's committed offsets.
            return new AdminResult(ErrorCode.InvalidRequest, $"Topic '{name}' is an internal topic and cannot be deleted.");
        }

        var decision = !_controller.IsActive ? await ForwardDeleteTopicAsync(name, cancellationToken).ConfigureAwait(false) : await _controller.DecideAsync(
            image => image.TopicsByName.TryGetValue(name, out var topic)
                ? Decision.Commit([new RemoveTopicRecord(topic.Id)])
                : Decision.Fail(ErrorCode.UnknownTopicOrPartition, "This server does not host this topic-partition."),
            cancellationToken).ConfigureAwait(false);
        if (decision.Error == ErrorCode.RequestTimedOut && await WaitForTopicGoneAsync(name, cancellationToken).ConfigureAwait(false))
        {
            // Slow to answer, but done: say so.
            decision = Decision.Commit([]);
        }

        if (decision.Error == ErrorCode.None)
        {
            LogTopicDeleted(name);
        }

        return new AdminResult(decision.Error, decision.Message);
    }

    /// <summary>Raises a topic's partition count; the new partitions' replicas are placed, or as <paramref name="assignment"/> says.</summary>
    public async Task<AdminResult> CreatePartitionsAsync(string name, int count, IReadOnlyList<ImmutableArray<int>>? assignment, bool validateOnly, CancellationToken cancellationToken)
    {
        Decision Decide(MetadataImage image) => ControllerDecisions.CreatePartitions(image, name, count, new Random(), Limits, assignment);
        var decision = validateOnly ? Decide(Image)
            : _controller.IsActive ? await _controller.DecideAsync(Decide, cancellationToken).ConfigureAwait(false)
            : await ForwardCreatePartitionsAsync(name, count, assignment, cancellationToken).ConfigureAwait(false);
        return new AdminResult(decision.Error, decision.Message);
    }

    /// <summary>Replaces or edits a topic's config overrides after validating them all.</summary>
    public async Task<AdminResult> AlterConfigsAsync(string name, Func<ImmutableSortedDictionary<string, string>, ImmutableSortedDictionary<string, string>> change, bool validateOnly, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (!Topics.TryGet(name, out var current))
        {
            return new AdminResult(ErrorCode.UnknownTopicOrPartition, $"Topic {name} does not exist.");
        }

        var configs = change(current.Configs);
        foreach (var (key, value) in configs)
        {
            var problem = TopicConfigDefinitions.Validate(key, value);
            if (problem is not null)
            {
                return new AdminResult(ErrorCode.InvalidConfig, problem);
            }
        }

        if (validateOnly)
        {
            return AdminResult.Ok;
        }

        if (!_controller.IsActive)
        {
            var forwarded = await ForwardAlterConfigsAsync(name, configs, cancellationToken).ConfigureAwait(false);
            return new AdminResult(forwarded.Error, forwarded.Message);
        }

        var decision = await _controller.DecideAsync(
            image =>
            {
                if (!image.TopicsByName.ContainsKey(name))
                {
                    return Decision.Fail(ErrorCode.UnknownTopicOrPartition, $"Topic {name} does not exist.");
                }

                var existing = image.GetConfigs(ConfigResourceType.Topic, name);
                var records = new List<MetadataRecord>();
                records.AddRange(existing.Keys.Where(k => !configs.ContainsKey(k)).Select(k => new ConfigRecord(ConfigResourceType.Topic, name, k, null)));
                records.AddRange(configs.Where(c => !existing.TryGetValue(c.Key, out var v) || v != c.Value).Select(c => new ConfigRecord(ConfigResourceType.Topic, name, c.Key, c.Value)));
                return Decision.Commit(records);
            },
            cancellationToken).ConfigureAwait(false);
        return new AdminResult(decision.Error, decision.Message);
    }

    /// <summary>
    /// Changes the dynamic configs of BROKER resource <paramref name="name"/> (a broker id, or "" for the cluster
    /// default) as <paramref name="change"/> says, on the active controller (a request reaches it forwarded).
    /// </summary>
    public async Task<Decision> AlterBrokerConfigsAsync(string name, Func<ImmutableSortedDictionary<string, string>, ImmutableSortedDictionary<string, string>> change, bool validateOnly, CancellationToken cancellationToken)
    {
        if (!_controller.IsActive)
        {
            return Decision.Fail(ErrorCode.NotController, "This broker is not the active controller; retry.");
        }

        Decision Decide(MetadataImage image) => DynamicBrokerConfigs.Alter(image, name, change);
        if (validateOnly)
        {
            var checkedOnly = Decide(_controller.Image);
            return checkedOnly.Error == ErrorCode.None ? Decision.Commit([]) : checkedOnly;
        }

        return await _controller.DecideAsync(Decide, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Every topic config with its effective value and where it comes from: the topic's own value, else this broker's
    /// dynamic broker config, the cluster default's, the static one, the default (<see cref="DynamicBrokerConfigs"/>).
    /// </summary>
    public IEnumerable<EffectiveConfig> DescribeConfigs(TopicInfo topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        var image = Image;
        foreach (var def in TopicConfigDefinitions.All.Values.OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            var synonyms = new List<(string, string, ConfigSource)>();
            if (topic.Configs.TryGetValue(def.Name, out var topicValue))
            {
                synonyms.Add((def.Name, topicValue, ConfigSource.DynamicTopicConfig));
            }

            // As Kafka's ConfigHelper: no default synonym for the topic configs whose broker keys have no default of their
            // own, and the broker synonyms listed only from the first one named by the topic config's own broker key (so
            // log.retention.hours alone, set or default, lists nothing for retention.ms).
            var defaults = DynamicBrokerConfigs.TopicDefaults(_options, image, def);
            var brokerSynonyms = defaults
                .Where(d => d.Source != ConfigSource.DefaultConfig || !TopicConfigDefinitions.BrokerSynonymHasNoDefault.Contains(def.Name))
                .SkipWhile(d => d.Name != (def.BrokerSynonym ?? def.Name))
                .Select(d => (d.Name, d.Value, d.Source))
                .ToList();
            synonyms.AddRange(brokerSynonyms);
            var (value, source) = topicValue is not null ? (topicValue, ConfigSource.DynamicTopicConfig)
                : (defaults[0].TopicValue, brokerSynonyms.Count > 0 ? brokerSynonyms[0].Source : ConfigSource.DefaultConfig);
            yield return new EffectiveConfig(def, value, source, synonyms);
        }
    }

    /// <summary>The produce settings a topic's configs imply.</summary>
    private ProducePolicy ProducePolicyFor(MetadataImage image, TopicInfo topic)
    {
        string Value(string name) => ConfigValue(_options, image, topic, name);
        int Level(string name) => int.Parse(Value(name), CultureInfo.InvariantCulture);
        (CompressionType? Codec, int? Level) compression = Value("compression.type") switch
        {
            "uncompressed" => (CompressionType.None, null),
            "gzip" => (CompressionType.Gzip, Level("compression.gzip.level")),
            "snappy" => (CompressionType.Snappy, null),
            "lz4" => (CompressionType.Lz4, Level("compression.lz4.level")),
            "zstd" => (CompressionType.Zstd, Level("compression.zstd.level")),
            _ => (null, null),
        };
        return new(
            int.Parse(Value("max.message.bytes"), CultureInfo.InvariantCulture),
            Value("message.timestamp.type") == "LogAppendTime",
            long.Parse(Value("message.timestamp.before.max.ms"), CultureInfo.InvariantCulture),
            long.Parse(Value("message.timestamp.after.max.ms"), CultureInfo.InvariantCulture),
            int.Parse(Value("min.insync.replicas"), CultureInfo.InvariantCulture),
            TopicConfigDefinitions.CleanupPolicies(Value("cleanup.policy")).Contains("compact"),
            compression.Codec,
            compression.Level);
    }

    // The topic's own value, else the broker-level one in effect on this broker.
    private static string ConfigValue(BrokerOptions options, MetadataImage image, TopicInfo topic, string name) =>
        topic.Configs.TryGetValue(name, out var v) ? v : DynamicBrokerConfigs.TopicDefaults(options, image, TopicConfigDefinitions.All[name])[0].TopicValue;

    private static LogConfig LogConfigFor(BrokerOptions options, MetadataImage image, TopicInfo topic)
    {
        string Value(string name) => ConfigValue(options, image, topic, name);
        long L(string name) => long.Parse(Value(name), CultureInfo.InvariantCulture);
        var policy = TopicConfigDefinitions.CleanupPolicies(Value("cleanup.policy"));
        return new LogConfig
        {
            Compact = policy.Contains("compact"),
            Delete = policy.Contains("delete"),
            DeleteRetentionMs = L("delete.retention.ms"),
            MinCleanableDirtyRatio = double.Parse(Value("min.cleanable.dirty.ratio"), CultureInfo.InvariantCulture),
            MinCompactionLagMs = L("min.compaction.lag.ms"),
            MaxCompactionLagMs = L("max.compaction.lag.ms"),
            SegmentBytes = (int)L("segment.bytes"),
            SegmentMs = L("segment.ms"),
            RetentionMs = L("retention.ms"),
            RetentionBytes = L("retention.bytes"),
            IndexIntervalBytes = (int)L("index.interval.bytes"),
            SegmentIndexBytes = (int)L("segment.index.bytes"),
            FileDeleteDelayMs = L("file.delete.delay.ms"),
            FlushMessages = L("flush.messages"),
            FlushMs = L("flush.ms"),
            ProducerIdExpirationMs = options.ProducerIdExpirationMs,
        };
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // The host disposes its singletons again after the broker's ordered shutdown.
        if (Interlocked.Exchange(ref _disposeCount, 1) != 0)
        {
            return;
        }

        _partitions.Clear();
        await Logs.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventName = "TopicCreated", Level = LogLevel.Information, Message = "Created topic {Topic} with {Partitions} partition(s), replication factor {ReplicationFactor}")]
    private partial void LogTopicCreated(string topic, int partitions, short replicationFactor);

    [LoggerMessage(EventName = "TopicDeleted", Level = LogLevel.Information, Message = "Deleted topic {Topic}")]
    private partial void LogTopicDeleted(string topic);

    [LoggerMessage(EventName = "ForwardFailed", Level = LogLevel.Warning, Message = "Forwarding {ApiKey} to the controller at {Controller} failed: {Problem}")]
    private partial void LogForwardFailed(ApiKey apiKey, string controller, string problem);

    [LoggerMessage(EventName = "ReplicaOpenFailed", Level = LogLevel.Error, Message = "Cannot open the replica {Partition} ({Problem}); it stays offline on this broker until a later metadata change opens it")]
    private partial void LogReplicaOpenFailed(string partition, string problem, Exception? exception);

    [LoggerMessage(EventName = "ReplicasDeleted", Level = LogLevel.Information, Message = "Deleted {Count} replica(s) no longer assigned here (topics {Topics})")]
    private partial void LogReplicasDeleted(int count, string topics);
}
