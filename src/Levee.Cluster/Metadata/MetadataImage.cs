using System.Collections.Immutable;

namespace Levee.Cluster.Metadata;

/// <summary>
/// An immutable snapshot of the cluster state: brokers, topics, partitions, configs, producer
/// ids. Every broker builds it by applying the committed metadata log; handlers read
/// <c>MetadataQuorum.Current</c>, which is swapped atomically, so a reader never sees half a batch.
/// </summary>
/// <remarks>
/// <see cref="Apply(MetadataRecord)"/> is pure: the same records in the same order give the same
/// image on every node, whatever the batching, which is what makes it a replicated state machine.
/// </remarks>
public sealed partial class MetadataImage
{
    private static readonly ImmutableSortedDictionary<int, PartitionImage> NoPartitions = ImmutableSortedDictionary<int, PartitionImage>.Empty;

    private TenantDirectory? _tenants;
    private ImmutableSortedDictionary<string, Plan>? _plans;

    /// <summary>The image of an empty cluster, before the first record.</summary>
    public static MetadataImage Empty { get; } = new();

    private MetadataImage()
    {
    }

    // A copy to change with an object initializer: new(this) { Acls = ... }.
    private MetadataImage(MetadataImage from)
    {
        Offset = from.Offset;
        Brokers = from.Brokers;
        TopicsById = from.TopicsById;
        TopicsByName = from.TopicsByName;
        Configs = from.Configs;
        NextProducerId = from.NextProducerId;
        ScramCredentials = from.ScramCredentials;
        Acls = from.Acls;
        ClientQuotas = from.ClientQuotas;
    }

    /// <summary>
    /// The metadata log offset (Raft log index) of the last entry applied to this image; 0 before
    /// any. <c>MetadataQuorum.AppendAsync</c> returns the offset at which its batch is visible.
    /// </summary>
    public long Offset { get; private init; }

    /// <summary>Registered brokers by id.</summary>
    public ImmutableSortedDictionary<int, BrokerRegistration> Brokers { get; private init; } = ImmutableSortedDictionary<int, BrokerRegistration>.Empty;

    /// <summary>Topics by id.</summary>
    public ImmutableSortedDictionary<Guid, TopicImage> TopicsById { get; private init; } = ImmutableSortedDictionary<Guid, TopicImage>.Empty;

    /// <summary>Topics by name (ordinal).</summary>
    public ImmutableSortedDictionary<string, TopicImage> TopicsByName { get; private init; } = ImmutableSortedDictionary.Create<string, TopicImage>(StringComparer.Ordinal);

    /// <summary>Config overrides by resource, then by config name. Only resources with at least one override appear.</summary>
    public ImmutableSortedDictionary<ConfigResource, ImmutableSortedDictionary<string, string>> Configs { get; private init; } = ImmutableSortedDictionary<ConfigResource, ImmutableSortedDictionary<string, string>>.Empty;

    /// <summary>The first producer id not yet handed out.</summary>
    public long NextProducerId { get; private init; }

    /// <summary>SCRAM credentials by user and mechanism (salted and iterated: no password is stored).</summary>
    public ImmutableSortedDictionary<ScramCredentialKey, UserScramCredentialRecord> ScramCredentials { get; private init; } = ImmutableSortedDictionary<ScramCredentialKey, UserScramCredentialRecord>.Empty;

    /// <summary>ACLs by id.</summary>
    public ImmutableSortedDictionary<Guid, AccessControlEntryRecord> Acls { get; private init; } = ImmutableSortedDictionary<Guid, AccessControlEntryRecord>.Empty;

    /// <summary>Client quotas by entity, then by quota key (<c>producer_byte_rate</c>, ...). Only entities with at least one quota appear.</summary>
    public ImmutableSortedDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>> ClientQuotas { get; private init; } = ImmutableSortedDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>>.Empty;

    /// <summary>The tenants of this image (its TENANT config resources), indexed once per image.</summary>
    public TenantDirectory Tenants => _tenants ??= TenantDirectory.Build(Configs);

    /// <summary>The plans of this image: the built-in ones as its PLAN config resources change them, and its own.</summary>
    public ImmutableSortedDictionary<string, Plan> Plans => _plans ??= Plan.Build(Configs);

    /// <summary>Finds a partition by topic name and index.</summary>
    public PartitionImage? GetPartition(string topic, int partition) =>
        TopicsByName.TryGetValue(topic, out var image) && image.Partitions.TryGetValue(partition, out var p) ? p : null;

    /// <summary>The config overrides of a resource (empty when it has none).</summary>
    public ImmutableSortedDictionary<string, string> GetConfigs(ConfigResourceType type, string name) =>
        Configs.TryGetValue(new ConfigResource(type, name), out var configs)
            ? configs
            : ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    /// <summary>The same state at another metadata offset.</summary>
    public MetadataImage WithOffset(long offset) =>
        offset == Offset ? this : new(this) { Offset = offset };

    /// <summary>Applies records in order (an atomic batch: all apply or the method throws and this image is unchanged).</summary>
    /// <exception cref="InvalidMetadataRecordException">A record does not apply to the image reached so far.</exception>
    public MetadataImage Apply(IEnumerable<MetadataRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var image = this;
        foreach (var record in records)
        {
            image = image.Apply(record);
        }

        return image;
    }

    /// <summary>Returns the image with one record applied; this image is unchanged.</summary>
    /// <exception cref="InvalidMetadataRecordException">The record does not apply to this image.</exception>
    public MetadataImage Apply(MetadataRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record switch
        {
            RegisterBrokerRecord r => WithBrokers(Brokers.SetItem(
                r.BrokerId,
                new BrokerRegistration(
                    r.BrokerId, r.IncarnationId, r.BrokerEpoch, r.EndPoints.IsDefault ? [] : r.EndPoints, r.Rack, r.Fenced, r.InControlledShutdown))),
            UnregisterBrokerRecord r => WithBrokers(Brokers.Remove(RequireBroker(r.BrokerId, r.BrokerEpoch).Id)),
            FenceBrokerRecord r => WithBrokers(Brokers.SetItem(r.Id, RequireBroker(r.Id, r.Epoch) with { Fenced = true })),
            UnfenceBrokerRecord r => WithBrokers(Brokers.SetItem(r.Id, RequireBroker(r.Id, r.Epoch) with { Fenced = false })),
            BrokerRegistrationChangeRecord r => ApplyRegistrationChange(r),
            TopicRecord r => ApplyTopic(r),
            PartitionRecord r => ApplyPartition(r),
            PartitionChangeRecord r => ApplyPartitionChange(r),
            ConfigRecord r => ApplyConfig(r),
            RemoveTopicRecord r => ApplyRemoveTopic(r),
            ProducerIdsRecord r => r.NextProducerId > NextProducerId
                ? new(this) { NextProducerId = r.NextProducerId }
                : throw Invalid($"ProducerIdsRecord moves the next producer id back from {NextProducerId} to {r.NextProducerId}."),
            UserScramCredentialRecord r => ApplyScramCredential(r),
            RemoveUserScramCredentialRecord r => ScramCredentials.ContainsKey(new ScramCredentialKey(r.Name, r.Mechanism))
                ? new(this) { ScramCredentials = ScramCredentials.Remove(new ScramCredentialKey(r.Name, r.Mechanism)) }
                : throw Invalid($"User '{r.Name}' has no {r.Mechanism} credential."),
            AccessControlEntryRecord r => ApplyAcl(r),
            ClientQuotaRecord r => ApplyClientQuota(r),
            RemoveAccessControlEntryRecord r => Acls.ContainsKey(r.Id)
                ? new(this) { Acls = Acls.Remove(r.Id) }
                : throw Invalid($"ACL {r.Id} does not exist."),
            _ => throw Invalid($"Unsupported metadata record {record.GetType().Name}."),
        };
    }

    private MetadataImage ApplyScramCredential(UserScramCredentialRecord r)
    {
        if (string.IsNullOrEmpty(r.Name) || r.Mechanism is not (ScramMechanism.ScramSha256 or ScramMechanism.ScramSha512) || r.Iterations <= 0 || r.Salt.Length == 0)
        {
            throw Invalid($"UserScramCredentialRecord for '{r.Name}' is malformed.");
        }

        return new(this) { ScramCredentials = ScramCredentials.SetItem(new ScramCredentialKey(r.Name, r.Mechanism), r) };
    }

    private MetadataImage ApplyClientQuota(ClientQuotaRecord r)
    {
        if (string.IsNullOrEmpty(r.Key) || (r.Entity.User is null && r.Entity.ClientId is null && r.Entity.Ip is null) || (!r.Remove && !double.IsFinite(r.Value)))
        {
            throw Invalid($"ClientQuotaRecord for '{r.Entity}' is malformed.");
        }

        var quotas = ClientQuotas.TryGetValue(r.Entity, out var current) ? current : ImmutableSortedDictionary.Create<string, double>(StringComparer.Ordinal);
        quotas = r.Remove ? quotas.Remove(r.Key) : quotas.SetItem(r.Key, r.Value);
        var all = quotas.IsEmpty ? ClientQuotas.Remove(r.Entity) : ClientQuotas.SetItem(r.Entity, quotas);
        return new(this) { ClientQuotas = all };
    }

    private MetadataImage ApplyAcl(AccessControlEntryRecord r)
    {
        // Only what an authorizer can match: a concrete resource type, literal or prefixed, a concrete operation
        // and permission (Kafka's codes: types 2-7, patterns 3-4, operations 2-14, permissions 2-3).
        if (r.ResourceType is < 2 or > 7 || r.PatternType is not (3 or 4) || r.Operation is < 2 or > 14 || r.PermissionType is not (2 or 3)
            || string.IsNullOrEmpty(r.ResourceName) || string.IsNullOrEmpty(r.Principal) || string.IsNullOrEmpty(r.Host))
        {
            throw Invalid($"AccessControlEntryRecord {r.Id} is malformed.");
        }

        return new(this) { Acls = Acls.SetItem(r.Id, r) };
    }

    private MetadataImage WithBrokers(ImmutableSortedDictionary<int, BrokerRegistration> brokers) =>
        new(this) { Brokers = brokers };

    private MetadataImage WithTopic(TopicImage topic) => new(this)
    {
        TopicsById = TopicsById.SetItem(topic.Id, topic),
        TopicsByName = TopicsByName.SetItem(topic.Name, topic),
    };

    private BrokerRegistration RequireBroker(int id, long epoch)
    {
        if (!Brokers.TryGetValue(id, out var broker))
        {
            throw Invalid($"Broker {id} is not registered.");
        }

        if (broker.Epoch != epoch)
        {
            throw Invalid($"Broker {id} has epoch {broker.Epoch}, not {epoch}.");
        }

        return broker;
    }

    private MetadataImage ApplyRegistrationChange(BrokerRegistrationChangeRecord r)
    {
        var broker = RequireBroker(r.BrokerId, r.BrokerEpoch);
        return WithBrokers(Brokers.SetItem(r.BrokerId, broker with
        {
            Fenced = r.Fenced ?? broker.Fenced,
            InControlledShutdown = r.InControlledShutdown ?? broker.InControlledShutdown,
        }));
    }

    private MetadataImage ApplyTopic(TopicRecord r)
    {
        if (string.IsNullOrEmpty(r.Name) || r.TopicId == Guid.Empty)
        {
            throw Invalid("A topic needs a name and a non-zero id.");
        }

        if (TopicsByName.ContainsKey(r.Name))
        {
            throw Invalid($"Topic '{r.Name}' already exists.");
        }

        if (TopicsById.ContainsKey(r.TopicId))
        {
            throw Invalid($"Topic id {r.TopicId} is already used.");
        }

        return WithTopic(new TopicImage(r.Name, r.TopicId, NoPartitions));
    }

    private MetadataImage ApplyPartition(PartitionRecord r)
    {
        var topic = RequireTopic(r.TopicId);
        if (r.PartitionId < 0)
        {
            throw Invalid($"Partition index {r.PartitionId} of topic '{topic.Name}' is negative.");
        }

        var partition = new PartitionImage(
            r.TopicId, r.PartitionId, Normalize(r.Replicas), Normalize(r.Isr), r.Leader, r.LeaderEpoch, r.PartitionEpoch)
        {
            AddingReplicas = r.AddingReplicas is { } adding ? Normalize(adding) : [],
            RemovingReplicas = r.RemovingReplicas is { } removing ? Normalize(removing) : [],
        };
        CheckPartition(topic, partition);
        return WithTopic(topic with { Partitions = topic.Partitions.SetItem(r.PartitionId, partition) });
    }

    private MetadataImage ApplyPartitionChange(PartitionChangeRecord r)
    {
        var topic = RequireTopic(r.TopicId);
        if (!topic.Partitions.TryGetValue(r.PartitionId, out var current))
        {
            throw Invalid($"Topic '{topic.Name}' has no partition {r.PartitionId}.");
        }

        var leader = r.Leader == PartitionChangeRecord.NoLeaderChange ? current.Leader : r.Leader;
        var changed = current with
        {
            Replicas = r.Replicas is { } replicas ? Normalize(replicas) : current.Replicas,
            Isr = r.Isr is { } isr ? Normalize(isr) : current.Isr,
            Leader = leader,
            AddingReplicas = r.AddingReplicas is { } adding ? Normalize(adding) : current.AddingReplicas,
            RemovingReplicas = r.RemovingReplicas is { } removing ? Normalize(removing) : current.RemovingReplicas,

            // As in KRaft: a new leader starts a new leader epoch; any change is a new partition epoch.
            LeaderEpoch = leader != current.Leader ? current.LeaderEpoch + 1 : current.LeaderEpoch,
            PartitionEpoch = current.PartitionEpoch + 1,
        };
        CheckPartition(topic, changed);
        return WithTopic(topic with { Partitions = topic.Partitions.SetItem(r.PartitionId, changed) });
    }

    private MetadataImage ApplyConfig(ConfigRecord r)
    {
        if (!Enum.IsDefined(r.ResourceType))
        {
            throw Invalid($"Unknown config resource type {(sbyte)r.ResourceType}.");
        }

        if (string.IsNullOrEmpty(r.Name))
        {
            throw Invalid("A config needs a name.");
        }

        var resource = new ConfigResource(r.ResourceType, r.ResourceName);
        var configs = GetConfigs(r.ResourceType, r.ResourceName);
        configs = r.Value is null ? configs.Remove(r.Name) : configs.SetItem(r.Name, r.Value);
        var all = configs.IsEmpty ? Configs.Remove(resource) : Configs.SetItem(resource, configs);
        return new(this) { Configs = all };
    }

    private MetadataImage ApplyRemoveTopic(RemoveTopicRecord r)
    {
        var topic = RequireTopic(r.TopicId);
        return new(this)
        {
            TopicsById = TopicsById.Remove(topic.Id),
            TopicsByName = TopicsByName.Remove(topic.Name),
            Configs = Configs.Remove(new ConfigResource(ConfigResourceType.Topic, topic.Name)),
        };
    }

    private TopicImage RequireTopic(Guid id) =>
        TopicsById.TryGetValue(id, out var topic) ? topic : throw Invalid($"Topic id {id} does not exist.");

    private static void CheckPartition(TopicImage topic, PartitionImage p)
    {
        var name = $"{topic.Name}-{p.PartitionId}";
        if (p.Replicas.IsEmpty)
        {
            throw Invalid($"Partition {name} has no replicas.");
        }

        if (p.Replicas.Distinct().Count() != p.Replicas.Length || p.Isr.Distinct().Count() != p.Isr.Length)
        {
            throw Invalid($"Partition {name} lists a replica twice.");
        }

        if (p.Isr.Any(r => !p.Replicas.Contains(r)))
        {
            throw Invalid($"The ISR of partition {name} [{string.Join(',', p.Isr)}] is not within its replicas [{string.Join(',', p.Replicas)}].");
        }

        if (p.Leader != -1 && !p.Replicas.Contains(p.Leader))
        {
            throw Invalid($"Leader {p.Leader} of partition {name} is not one of its replicas.");
        }

        if (p.AddingReplicas.Concat(p.RemovingReplicas).Any(r => !p.Replicas.Contains(r)) || p.AddingReplicas.Any(p.RemovingReplicas.Contains))
        {
            throw Invalid($"The reassignment of partition {name} (adding [{string.Join(',', p.AddingReplicas)}], removing [{string.Join(',', p.RemovingReplicas)}]) is not within its replicas [{string.Join(',', p.Replicas)}].");
        }
    }

    private static ImmutableArray<int> Normalize(ImmutableArray<int> values) => values.IsDefault ? [] : values;

    private static InvalidMetadataRecordException Invalid(string message) => new(message);
}
