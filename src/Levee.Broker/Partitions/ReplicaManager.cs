using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using Levee.Broker.Topics;
using Levee.Protocol;
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
/// The partitions this broker holds and the topic lifecycle around them: create, delete, add
/// partitions, change configs. On a single broker it also plays the controller's part; in a cluster
/// the topic decisions move to the controller and this class keeps only the replicas.
/// </summary>
public sealed partial class ReplicaManager : IAsyncDisposable
{
    private readonly ConcurrentDictionary<TopicPartition, Partition> _partitions = new();
    private readonly Lock _adminLock = new();
    private readonly BrokerOptions _options;
    private readonly ILogger _logger;

    private ReplicaManager(BrokerOptions options, LogManager logs, TopicStore topics, ILogger logger)
    {
        _options = options;
        Logs = logs;
        Topics = topics;
        _logger = logger;
    }

    /// <summary>Topic metadata.</summary>
    public TopicStore Topics { get; }

    /// <summary>The logs on disk.</summary>
    public LogManager Logs { get; }

    /// <summary>The cluster id (from meta.properties).</summary>
    public string ClusterId => Logs.ClusterId;

    /// <summary>Opens the data directory: recovers every log and re-creates the partitions of known topics.</summary>
    public static ReplicaManager Open(BrokerOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        Directory.CreateDirectory(options.DataDir);
        var topics = new TopicStore(Path.Combine(options.DataDir, "levee-topics.json"));
        var logs = LogManager.Open(
            new LogManagerOptions
            {
                DataDirectory = options.DataDir,
                NodeId = options.NodeId,
                ClusterId = options.ClusterId,
                RetentionCheckIntervalMs = options.RetentionCheckIntervalMs,
                TopicConfig = name => topics.TryGet(name, out var topic) ? LogConfigFor(options, topic) : LogConfig.Default,
            },
            loggerFactory,
            time);
        var manager = new ReplicaManager(options, logs, topics, loggerFactory.CreateLogger<ReplicaManager>());
        foreach (var topic in topics.All)
        {
            manager.OpenPartitions(topic, 0);
        }

        return manager;
    }

    /// <summary>Finds a partition this broker leads.</summary>
    public bool TryGetPartition(string topic, int partition, out Partition result) =>
        _partitions.TryGetValue(new TopicPartition(topic, partition), out result!);

    /// <summary>Creates a topic, or only checks that it could be created when <paramref name="validateOnly"/>.</summary>
    public AdminResult CreateTopic(string name, int partitions, short replicationFactor, IReadOnlyDictionary<string, string?> configs, bool validateOnly, out TopicInfo? created)
    {
        ArgumentNullException.ThrowIfNull(configs);
        created = null;
        if (!TopicPartition.IsValidTopicName(name, out var nameProblem))
        {
            return new AdminResult(ErrorCode.InvalidTopic, nameProblem);
        }

        if (partitions == -1)
        {
            partitions = _options.DefaultPartitions;
        }

        if (replicationFactor == -1)
        {
            replicationFactor = _options.DefaultReplicationFactor;
        }

        if (partitions <= 0)
        {
            return new AdminResult(ErrorCode.InvalidPartitions, "Number of partitions must be larger than 0.");
        }

        if (replicationFactor <= 0)
        {
            return new AdminResult(ErrorCode.InvalidReplicationFactor, "Replication factor must be larger than 0.");
        }

        if (replicationFactor > 1)
        {
            return new AdminResult(ErrorCode.InvalidReplicationFactor, $"Unable to replicate the partition {replicationFactor} time(s): The target replication factor of {replicationFactor} cannot be reached because only 1 broker(s) are registered.");
        }

        foreach (var (key, value) in configs)
        {
            var problem = TopicConfigDefinitions.Validate(key, value);
            if (problem is not null)
            {
                return new AdminResult(ErrorCode.InvalidConfig, problem);
            }
        }

        lock (_adminLock)
        {
            if (Topics.TryGet(name, out _))
            {
                return new AdminResult(ErrorCode.TopicAlreadyExists, $"Topic '{name}' already exists.");
            }

            var collision = Topics.All.FirstOrDefault(t => t.Name.Replace('.', '_') == name.Replace('.', '_'));
            if (collision is not null)
            {
                return new AdminResult(ErrorCode.InvalidTopic, $"Topic '{name}' collides with existing topic: {collision.Name}");
            }

            var topic = new TopicInfo(name, Guid.NewGuid(), partitions, configs.ToImmutableSortedDictionary(p => p.Key, p => p.Value!, StringComparer.Ordinal));
            if (validateOnly)
            {
                created = topic;
                return AdminResult.Ok;
            }

            Topics.TryAdd(topic);
            OpenPartitions(topic, 0);
            created = topic;
            LogTopicCreated(name, partitions);
            return AdminResult.Ok;
        }
    }

    /// <summary>Creates a topic named by a client when auto.create.topics.enable allows it.</summary>
    public bool TryAutoCreate(string name, out TopicInfo topic)
    {
        if (Topics.TryGet(name, out topic))
        {
            return true;
        }

        if (!_options.AutoCreateTopics)
        {
            return false;
        }

        var result = CreateTopic(name, -1, -1, ImmutableDictionary<string, string?>.Empty, validateOnly: false, out var created);
        if (result.Error == ErrorCode.TopicAlreadyExists)
        {
            return Topics.TryGet(name, out topic);
        }

        topic = created!;
        return result.Error == ErrorCode.None;
    }

    /// <summary>Deletes a topic and its logs.</summary>
    public AdminResult DeleteTopic(string name)
    {
        lock (_adminLock)
        {
            if (!Topics.TryGet(name, out var topic))
            {
                return new AdminResult(ErrorCode.UnknownTopicOrPartition, "This server does not host this topic-partition.");
            }

            Topics.Remove(name);
            for (var i = 0; i < topic.PartitionCount; i++)
            {
                var tp = new TopicPartition(name, i);
                _partitions.TryRemove(tp, out _);
                Logs.Delete(tp);
            }

            LogTopicDeleted(name);
            return AdminResult.Ok;
        }
    }

    /// <summary>Raises a topic's partition count.</summary>
    public AdminResult CreatePartitions(string name, int count, bool validateOnly)
    {
        lock (_adminLock)
        {
            if (!Topics.TryGet(name, out var topic))
            {
                return new AdminResult(ErrorCode.UnknownTopicOrPartition, "This server does not host this topic-partition.");
            }

            if (count < topic.PartitionCount)
            {
                return new AdminResult(ErrorCode.InvalidPartitions, $"Topic currently has {topic.PartitionCount} partitions, which is higher than the requested {count}.");
            }

            if (count == topic.PartitionCount)
            {
                return new AdminResult(ErrorCode.InvalidPartitions, $"Topic already has {topic.PartitionCount} partitions.");
            }

            if (validateOnly)
            {
                return AdminResult.Ok;
            }

            var updated = topic with { PartitionCount = count };
            Topics.Update(updated);
            OpenPartitions(updated, topic.PartitionCount);
            return AdminResult.Ok;
        }
    }

    /// <summary>Replaces or edits a topic's config overrides after validating them all.</summary>
    public AdminResult AlterConfigs(string name, Func<ImmutableSortedDictionary<string, string>, ImmutableSortedDictionary<string, string>> change, bool validateOnly)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_adminLock)
        {
            if (!Topics.TryGet(name, out var topic))
            {
                return new AdminResult(ErrorCode.UnknownTopicOrPartition, $"Topic {name} does not exist.");
            }

            var configs = change(topic.Configs);
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

            var updated = topic with { Configs = configs };
            Topics.Update(updated);
            var logConfig = LogConfigFor(updated);
            for (var i = 0; i < updated.PartitionCount; i++)
            {
                if (TryGetPartition(name, i, out var partition))
                {
                    partition.Log.UpdateConfig(logConfig);
                }
            }

            return AdminResult.Ok;
        }
    }

    /// <summary>Every topic config with its effective value and where it comes from.</summary>
    public IEnumerable<EffectiveConfig> DescribeConfigs(TopicInfo topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        foreach (var def in TopicConfigDefinitions.All.Values.OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            var synonyms = new List<(string, string, ConfigSource)>();
            if (topic.Configs.TryGetValue(def.Name, out var topicValue))
            {
                synonyms.Add((def.Name, topicValue, ConfigSource.DynamicTopicConfig));
            }

            if (_options.TopicConfigDefaults.TryGetValue(def.Name, out var brokerValue))
            {
                synonyms.Add((def.BrokerSynonym ?? def.Name, brokerValue, ConfigSource.StaticBrokerConfig));
            }

            synonyms.Add((def.BrokerSynonym ?? def.Name, def.Default, ConfigSource.DefaultConfig));
            var (_, value, source) = synonyms[0];
            yield return new EffectiveConfig(def, value, source, synonyms);
        }
    }

    /// <summary>The effective value of one topic config.</summary>
    public string ConfigValue(TopicInfo topic, string name) => ConfigValue(_options, topic, name);

    /// <summary>The storage settings a topic's configs imply.</summary>
    public LogConfig LogConfigFor(TopicInfo topic) => LogConfigFor(_options, topic);

    private static string ConfigValue(BrokerOptions options, TopicInfo topic, string name)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (topic.Configs.TryGetValue(name, out var v) || options.TopicConfigDefaults.TryGetValue(name, out v))
        {
            return v;
        }

        return TopicConfigDefinitions.All[name].Default;
    }

    private static LogConfig LogConfigFor(BrokerOptions options, TopicInfo topic)
    {
        long L(string name) => long.Parse(ConfigValue(options, topic, name), CultureInfo.InvariantCulture);
        return new LogConfig
        {
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
        _partitions.Clear();
        await Logs.DisposeAsync().ConfigureAwait(false);
    }

    private void OpenPartitions(TopicInfo topic, int from)
    {
        var config = LogConfigFor(topic);
        for (var i = from; i < topic.PartitionCount; i++)
        {
            var tp = new TopicPartition(topic.Name, i);
            var log = Logs.GetOrCreate(tp, config);
            _partitions[tp] = new Partition(tp, topic.TopicId, log);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created topic {Topic} with {Partitions} partition(s)")]
    private partial void LogTopicCreated(string topic, int partitions);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted topic {Topic}")]
    private partial void LogTopicDeleted(string topic);
}
