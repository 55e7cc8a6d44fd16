using System.Globalization;

namespace Levee.Broker.Topics;

/// <summary>Kafka's config value types, as numbered in DescribeConfigs (KIP-569).</summary>
public enum ConfigType : sbyte
{
    /// <summary>Unknown.</summary>
    Unknown = 0,
    /// <summary>Boolean.</summary>
    Boolean = 1,
    /// <summary>String.</summary>
    String = 2,
    /// <summary>Int.</summary>
    Int = 3,
    /// <summary>Short.</summary>
    Short = 4,
    /// <summary>Long.</summary>
    Long = 5,
    /// <summary>Double.</summary>
    Double = 6,
    /// <summary>List.</summary>
    List = 7,
    /// <summary>Password: a secret, described as sensitive with a null value.</summary>
    Password = 8,
    /// <summary>Class.</summary>
    Class = 9,
}

/// <summary>Where a config value comes from, as numbered in DescribeConfigs responses.</summary>
public enum ConfigSource : sbyte
{
    /// <summary>Unknown.</summary>
    Unknown = 0,
    /// <summary>Set on the topic.</summary>
    DynamicTopicConfig = 1,
    /// <summary>Set for one broker dynamically.</summary>
    DynamicBrokerConfig = 2,
    /// <summary>Set for all brokers dynamically.</summary>
    DynamicDefaultBrokerConfig = 3,
    /// <summary>Set in the broker's static configuration.</summary>
    StaticBrokerConfig = 4,
    /// <summary>Kafka's default.</summary>
    DefaultConfig = 5,
}

/// <summary>One topic-level config: its name, type, Kafka default, validation, and the broker setting that overrides its default.</summary>
public sealed record TopicConfigDefinition(string Name, ConfigType Type, string Default, string Documentation, Func<string, string?>? Validate = null, string? BrokerSynonym = null, bool Supported = true);

/// <summary>
/// The topic configs Kafka 4.0 defines, with its defaults. Values a Levee broker does not act on yet
/// are still described (clients and tools expect them) but refused when set to anything but the default,
/// so nobody believes a setting took effect when it did not.
/// </summary>
public static class TopicConfigDefinitions
{
    private const string LongMax = "9223372036854775807";

    /// <summary>Every topic config, by name.</summary>
    public static IReadOnlyDictionary<string, TopicConfigDefinition> All { get; } = Build();

    /// <summary>
    /// Topic configs whose broker synonym has no default in Kafka (<c>log.retention.ms</c>, <c>log.roll.ms</c>,
    /// <c>log.roll.jitter.ms</c>, <c>log.flush.interval.ms</c>: Kafka derives them from <c>*.hours</c> or another
    /// setting). Kafka's DescribeConfigs lists no DEFAULT_CONFIG synonym for them: its synonyms start at the broker
    /// key's own name and the default belongs to another key, so a topic that does not set one reports none.
    /// </summary>
    public static IReadOnlySet<string> BrokerSynonymHasNoDefault { get; } = new HashSet<string>(StringComparer.Ordinal) { "retention.ms", "segment.ms", "segment.jitter.ms", "flush.ms" };

    private static Dictionary<string, TopicConfigDefinition> Build()
    {
        TopicConfigDefinition[] defs =
        [
            new("cleanup.policy", ConfigType.List, "delete", "Retention policy: delete, compact, or both.", v => CleanupPolicies(v) is { Length: > 0 } p && p.All(x => x is "delete" or "compact") ? null : "must be a list of delete and compact", "log.cleanup.policy"),
            new("compression.type", ConfigType.String, "producer", "Final compression of the topic: uncompressed, zstd, lz4, snappy, gzip, or producer (keep the producer's codec).", v => CompressionTypes.Contains(v) ? null : $"String must be one of: {string.Join(", ", CompressionTypes)}", "compression.type"),
            new("compression.gzip.level", ConfigType.Int, "-1", "The compression level to use if compression.type is set to 'gzip'.", v => IntLevel(v, l => l is > 9 or (< 1 and not -1) ? "Value must be between 1 and 9 or equal to -1" : null), "compression.gzip.level"),
            new("compression.lz4.level", ConfigType.Int, "9", "The compression level to use if compression.type is set to 'lz4'.", v => IntLevel(v, l => Between(l, 1, 17)), "compression.lz4.level"),
            new("compression.zstd.level", ConfigType.Int, "3", "The compression level to use if compression.type is set to 'zstd'.", v => IntLevel(v, l => Between(l, -131072, 22)), "compression.zstd.level"),
            new("delete.retention.ms", ConfigType.Long, "86400000", "Time to keep delete tombstones for compacted topics.", NonNegativeLong, "log.cleaner.delete.retention.ms"),
            new("file.delete.delay.ms", ConfigType.Long, "60000", "Time before a deleted segment file is removed.", NonNegativeLong, "log.segment.delete.delay.ms"),
            new("flush.messages", ConfigType.Long, LongMax, "Force an fsync after this many messages.", PositiveLong, "log.flush.interval.messages"),
            new("flush.ms", ConfigType.Long, LongMax, "Force an fsync after this much time.", NonNegativeLong, "log.flush.interval.ms"),
            new("index.interval.bytes", ConfigType.Int, "4096", "Bytes between offset index entries.", NonNegativeInt, "log.index.interval.bytes"),
            new("max.compaction.lag.ms", ConfigType.Long, LongMax, "Maximum time a message stays uncompacted.", PositiveLong, "log.cleaner.max.compaction.lag.ms"),
            new("max.message.bytes", ConfigType.Int, "1048588", "Largest record batch size allowed.", NonNegativeInt, "message.max.bytes"),
            new("message.timestamp.after.max.ms", ConfigType.Long, "3600000", "Largest allowed gap of a CreateTime timestamp ahead of the broker's time.", NonNegativeLong, "log.message.timestamp.after.max.ms"),
            new("message.timestamp.before.max.ms", ConfigType.Long, LongMax, "Largest allowed gap of a CreateTime timestamp behind the broker's time.", NonNegativeLong, "log.message.timestamp.before.max.ms"),
            new("message.timestamp.type", ConfigType.String, "CreateTime", "CreateTime or LogAppendTime.", v => v is "CreateTime" or "LogAppendTime" ? null : "must be CreateTime or LogAppendTime", "log.message.timestamp.type"),
            new("min.cleanable.dirty.ratio", ConfigType.Double, "0.5", "Compaction trigger ratio.", v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d is >= 0 and <= 1 ? null : "must be between 0 and 1", "log.cleaner.min.cleanable.ratio"),
            new("min.compaction.lag.ms", ConfigType.Long, "0", "Minimum time a message stays uncompacted.", NonNegativeLong, "log.cleaner.min.compaction.lag.ms"),
            new("min.insync.replicas", ConfigType.Int, "1", "Minimum ISR size for acks=all writes.", v => int.TryParse(v, CultureInfo.InvariantCulture, out var i) && i >= 1 ? null : "must be at least 1", "min.insync.replicas"),
            new("preallocate", ConfigType.Boolean, "false", "Preallocate segment files.", IsBool),
            new("retention.bytes", ConfigType.Long, "-1", "Largest size of the partition log before old segments are deleted; -1 for no limit.", AnyLong, "log.retention.bytes"),
            new("retention.ms", ConfigType.Long, "604800000", "Longest time a segment is kept; -1 for no limit.", v => long.TryParse(v, CultureInfo.InvariantCulture, out var l) && l >= -1 ? null : "must be -1 or more", "log.retention.ms"),
            new("segment.bytes", ConfigType.Int, "1073741824", "Segment file size.", v => int.TryParse(v, CultureInfo.InvariantCulture, out var i) && i >= 14 ? null : "must be at least 14", "log.segment.bytes"),
            new("segment.index.bytes", ConfigType.Int, "10485760", "Size of a segment's offset index.", v => int.TryParse(v, CultureInfo.InvariantCulture, out var i) && i >= 8 ? null : "must be at least 8", "log.index.size.max.bytes"),
            new("segment.jitter.ms", ConfigType.Long, "0", "Random jitter subtracted from segment.ms.", NonNegativeLong),
            new("segment.ms", ConfigType.Long, "604800000", "Time after which a segment is rolled.", PositiveLong, "log.roll.ms"),
            new("unclean.leader.election.enable", ConfigType.Boolean, "false", "Allow out-of-sync replicas to become leader.", IsBool),
            new("local.retention.bytes", ConfigType.Long, "-2", "Local retention for tiered storage (not supported).", v => v == "-2" ? null : "tiered storage is not supported"),
            new("local.retention.ms", ConfigType.Long, "-2", "Local retention for tiered storage (not supported).", v => v == "-2" ? null : "tiered storage is not supported"),
            new("remote.storage.enable", ConfigType.Boolean, "false", "Tiered storage (not supported).", v => v == "false" ? null : "tiered storage is not supported"),
            new("follower.replication.throttled.replicas", ConfigType.List, "", "Replicas throttled on the follower side.", _ => null),
            new("leader.replication.throttled.replicas", ConfigType.List, "", "Replicas throttled on the leader side.", _ => null),
        ];
        return defs.ToDictionary(d => d.Name, StringComparer.Ordinal);
    }

    /// <summary>The policies of a <c>cleanup.policy</c> value (<c>compact,delete</c>), trimmed; an empty list for an empty value.</summary>
    public static string[] CleanupPolicies(string value) =>
        (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Checks a name/value pair; returns null when valid, else a message for INVALID_CONFIG.</summary>
    public static string? Validate(string name, string? value)
    {
        if (!All.TryGetValue(name, out var def))
        {
            return $"Unknown topic config name: {name}";
        }

        if (value is null)
        {
            return $"Null value not supported for topic config {name}";
        }

        var problem = def.Validate?.Invoke(value);
        return problem is null ? null : $"Invalid value {value} for configuration {name}: {problem}";
    }

    // Kafka's BrokerCompressionType names, in its order (the order of its "String must be one of" message).
    private static readonly string[] CompressionTypes = ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

    // Kafka's ConfigDef messages for an INT with a level validator (CompressionType.levelValidator).
    private static string? IntLevel(string v, Func<int, string?> check) =>
        int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var level) ? check(level) : "Not a number of type INT";

    private static string? Between(int value, int min, int max) =>
        value < min ? $"Value must be at least {min}" : value > max ? $"Value must be no more than {max}" : null;

    private static string? NonNegativeLong(string v) => long.TryParse(v, CultureInfo.InvariantCulture, out var l) && l >= 0 ? null : "must be a non-negative long";

    private static string? PositiveLong(string v) => long.TryParse(v, CultureInfo.InvariantCulture, out var l) && l >= 1 ? null : "must be a positive long";

    private static string? AnyLong(string v) => long.TryParse(v, CultureInfo.InvariantCulture, out _) ? null : "must be a long";

    private static string? NonNegativeInt(string v) => int.TryParse(v, CultureInfo.InvariantCulture, out var i) && i >= 0 ? null : "must be a non-negative int";

    private static string? IsBool(string v) => v is "true" or "false" ? null : "must be true or false";
}
