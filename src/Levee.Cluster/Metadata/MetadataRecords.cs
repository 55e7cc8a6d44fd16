using System.Collections.Immutable;
using Levee.Protocol;

namespace Levee.Cluster.Metadata;

/// <summary>
/// One change to the cluster state, as committed to the metadata log. Modelled on Kafka's KRaft
/// records (../shared/kafka-protocol/metadata): same names, same type numbers, the fields Levee uses.
/// Serialised by <see cref="MetadataRecordCodec"/> as (type, version, body).
/// </summary>
public abstract record MetadataRecord
{
    /// <summary>The record type, written first on the wire.</summary>
    public abstract MetadataRecordType Type { get; }

    /// <summary>The version of the body layout written by this build.</summary>
    public virtual short Version => 0;

    /// <summary>Writes the body (everything after type and version).</summary>
    internal abstract void WriteBody(ref KafkaWriter writer);
}

/// <summary>A listener a broker advertises (Kafka's BrokerEndpoint).</summary>
/// <param name="Name">Listener name, e.g. <c>PLAINTEXT</c>.</param>
/// <param name="Host">Advertised host.</param>
/// <param name="Port">Advertised port (0-65535).</param>
/// <param name="SecurityProtocol">Kafka's security protocol id: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL.</param>
public sealed record BrokerEndpoint(string Name, string Host, int Port, short SecurityProtocol = 0);

/// <summary>A broker registered, or re-registered after a restart with a new epoch (Kafka's RegisterBrokerRecord).</summary>
/// <param name="BrokerId">The broker id.</param>
/// <param name="IncarnationId">Unique id of this run of the broker process.</param>
/// <param name="BrokerEpoch">The epoch the controller assigned to this registration.</param>
/// <param name="EndPoints">The advertised listeners.</param>
/// <param name="Rack">The rack, or null.</param>
/// <param name="Fenced">Whether the broker starts fenced (it does, until its first heartbeat catches up).</param>
/// <param name="InControlledShutdown">Whether the broker is shutting down.</param>
public sealed record RegisterBrokerRecord(
    int BrokerId,
    Guid IncarnationId,
    long BrokerEpoch,
    ImmutableArray<BrokerEndpoint> EndPoints,
    string? Rack = null,
    bool Fenced = true,
    bool InControlledShutdown = false) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.RegisterBroker;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteInt32(BrokerId);
        writer.WriteUuid(IncarnationId);
        writer.WriteInt64(BrokerEpoch);
        var endpoints = EndPoints.IsDefault ? [] : EndPoints;
        writer.WriteArrayLength(endpoints.Length, compact: true);
        foreach (var endpoint in endpoints)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)endpoint.Port, ushort.MaxValue, nameof(EndPoints));
            writer.WriteString(endpoint.Name, compact: true);
            writer.WriteString(endpoint.Host, compact: true);
            writer.WriteUInt16((ushort)endpoint.Port);
            writer.WriteInt16(endpoint.SecurityProtocol);
        }

        writer.WriteNullableString(Rack, compact: true);
        writer.WriteBool(Fenced);
        writer.WriteBool(InControlledShutdown);
    }

    internal static RegisterBrokerRecord Read(ref KafkaReader reader)
    {
        var brokerId = reader.ReadInt32();
        var incarnation = reader.ReadUuid();
        var epoch = reader.ReadInt64();
        var count = reader.ReadArrayLength(compact: true);
        var endpoints = ImmutableArray.CreateBuilder<BrokerEndpoint>(Math.Max(count, 0));
        for (var i = 0; i < count; i++)
        {
            endpoints.Add(new BrokerEndpoint(
                reader.ReadCompactString(), reader.ReadCompactString(), reader.ReadUInt16(), reader.ReadInt16()));
        }

        return new RegisterBrokerRecord(
            brokerId, incarnation, epoch, endpoints.DrainToImmutable(), reader.ReadCompactNullableString(), reader.ReadBool(), reader.ReadBool());
    }
}

/// <summary>A broker left the cluster for good (Kafka's UnregisterBrokerRecord).</summary>
/// <param name="BrokerId">The broker id.</param>
/// <param name="BrokerEpoch">The epoch of the registration being removed.</param>
public sealed record UnregisterBrokerRecord(int BrokerId, long BrokerEpoch) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.UnregisterBroker;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteInt32(BrokerId);
        writer.WriteInt64(BrokerEpoch);
    }

    internal static UnregisterBrokerRecord Read(ref KafkaReader reader) => new(reader.ReadInt32(), reader.ReadInt64());
}

/// <summary>A broker was fenced: it leads nothing and is out of every ISR (Kafka's FenceBrokerRecord).</summary>
/// <param name="Id">The broker id.</param>
/// <param name="Epoch">The broker epoch.</param>
public sealed record FenceBrokerRecord(int Id, long Epoch) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.FenceBroker;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteInt32(Id);
        writer.WriteInt64(Epoch);
    }

    internal static FenceBrokerRecord Read(ref KafkaReader reader) => new(reader.ReadInt32(), reader.ReadInt64());
}

/// <summary>A broker was unfenced: it may lead and join ISRs again (Kafka's UnfenceBrokerRecord).</summary>
/// <param name="Id">The broker id.</param>
/// <param name="Epoch">The broker epoch.</param>
public sealed record UnfenceBrokerRecord(int Id, long Epoch) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.UnfenceBroker;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteInt32(Id);
        writer.WriteInt64(Epoch);
    }

    internal static UnfenceBrokerRecord Read(ref KafkaReader reader) => new(reader.ReadInt32(), reader.ReadInt64());
}

/// <summary>
/// A broker's fenced or controlled-shutdown state changed (Kafka's BrokerRegistrationChangeRecord);
/// a null field means "unchanged".
/// </summary>
/// <param name="BrokerId">The broker id.</param>
/// <param name="BrokerEpoch">The broker epoch.</param>
/// <param name="Fenced">The new fenced state, or null.</param>
/// <param name="InControlledShutdown">The new controlled-shutdown state, or null.</param>
public sealed record BrokerRegistrationChangeRecord(int BrokerId, long BrokerEpoch, bool? Fenced = null, bool? InControlledShutdown = null)
    : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.BrokerRegistrationChange;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteInt32(BrokerId);
        writer.WriteInt64(BrokerEpoch);
        writer.WriteInt8(ToTriState(Fenced));
        writer.WriteInt8(ToTriState(InControlledShutdown));
    }

    internal static BrokerRegistrationChangeRecord Read(ref KafkaReader reader) =>
        new(reader.ReadInt32(), reader.ReadInt64(), FromTriState(reader.ReadInt8()), FromTriState(reader.ReadInt8()));

    // Kafka encodes these as int8: -1 false, 0 unchanged, 1 true.
    private static sbyte ToTriState(bool? value) => value switch { null => 0, true => 1, false => -1 };

    private static bool? FromTriState(sbyte value) => value switch
    {
        0 => null,
        1 => true,
        -1 => false,
        _ => throw new MetadataFormatException($"Invalid tri-state value {value} in BrokerRegistrationChangeRecord."),
    };
}

/// <summary>A topic was created (Kafka's TopicRecord); its partitions follow as <see cref="PartitionRecord"/>s.</summary>
/// <param name="Name">The topic name.</param>
/// <param name="TopicId">The topic id.</param>
public sealed record TopicRecord(string Name, Guid TopicId) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.Topic;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteString(Name, compact: true);
        writer.WriteUuid(TopicId);
    }

    internal static TopicRecord Read(ref KafkaReader reader) => new(reader.ReadCompactString(), reader.ReadUuid());
}

/// <summary>The whole state of one partition (Kafka's PartitionRecord): at creation, and in snapshots.</summary>
/// <param name="TopicId">The topic id.</param>
/// <param name="PartitionId">The partition index.</param>
/// <param name="Replicas">The replicas, in preferred order (the first is the preferred leader).</param>
/// <param name="Isr">The in-sync replicas.</param>
/// <param name="Leader">The leader, or -1 when the partition has none (offline).</param>
/// <param name="LeaderEpoch">The leader epoch, bumped on every leader change.</param>
/// <param name="PartitionEpoch">The partition epoch, bumped on every change.</param>
/// <param name="AddingReplicas">Replicas a reassignment in progress adds (KIP-455), or null for none.</param>
/// <param name="RemovingReplicas">Replicas a reassignment in progress removes, or null for none.</param>
public sealed record PartitionRecord(
    Guid TopicId,
    int PartitionId,
    ImmutableArray<int> Replicas,
    ImmutableArray<int> Isr,
    int Leader,
    int LeaderEpoch = 0,
    int PartitionEpoch = 0,
    ImmutableArray<int>? AddingReplicas = null,
    ImmutableArray<int>? RemovingReplicas = null) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.Partition;

    /// <summary>Version 1 adds the reassignment's adding and removing replicas; version 0 is written without one.</summary>
    public override short Version => AddingReplicas is null && RemovingReplicas is null ? (short)0 : (short)1;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteUuid(TopicId);
        writer.WriteInt32(PartitionId);
        MetadataRecordCodec.WriteInt32Array(ref writer, Replicas);
        MetadataRecordCodec.WriteInt32Array(ref writer, Isr);
        writer.WriteInt32(Leader);
        writer.WriteInt32(LeaderEpoch);
        writer.WriteInt32(PartitionEpoch);
        if (Version > 0)
        {
            MetadataRecordCodec.WriteInt32Array(ref writer, AddingReplicas);
            MetadataRecordCodec.WriteInt32Array(ref writer, RemovingReplicas);
        }
    }

    internal static PartitionRecord Read(ref KafkaReader reader, short version) => new(
        reader.ReadUuid(),
        reader.ReadInt32(),
        MetadataRecordCodec.ReadInt32Array(ref reader) ?? [],
        MetadataRecordCodec.ReadInt32Array(ref reader) ?? [],
        reader.ReadInt32(),
        reader.ReadInt32(),
        reader.ReadInt32(),
        version > 0 ? MetadataRecordCodec.ReadInt32Array(ref reader) : null,
        version > 0 ? MetadataRecordCodec.ReadInt32Array(ref reader) : null);
}

/// <summary>
/// Some fields of a partition changed (Kafka's PartitionChangeRecord). Null arrays and
/// <see cref="NoLeaderChange"/> mean "unchanged". A new leader bumps the leader epoch; any change
/// bumps the partition epoch.
/// </summary>
/// <param name="TopicId">The topic id.</param>
/// <param name="PartitionId">The partition index.</param>
/// <param name="Isr">The new ISR, or null.</param>
/// <param name="Leader">The new leader, -1 for none, or <see cref="NoLeaderChange"/>.</param>
/// <param name="Replicas">The new replicas, or null.</param>
/// <param name="AddingReplicas">The replicas a reassignment adds (empty: none), or null for unchanged.</param>
/// <param name="RemovingReplicas">The replicas a reassignment removes (empty: none), or null for unchanged.</param>
public sealed record PartitionChangeRecord(
    Guid TopicId,
    int PartitionId,
    ImmutableArray<int>? Isr = null,
    int Leader = PartitionChangeRecord.NoLeaderChange,
    ImmutableArray<int>? Replicas = null,
    ImmutableArray<int>? AddingReplicas = null,
    ImmutableArray<int>? RemovingReplicas = null) : MetadataRecord
{
    /// <summary>The <see cref="Leader"/> value meaning "the leader is unchanged" (Kafka's -2).</summary>
    public const int NoLeaderChange = -2;

    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.PartitionChange;

    /// <summary>Version 1 adds the reassignment's adding and removing replicas; version 0 is written when neither changes.</summary>
    public override short Version => AddingReplicas is null && RemovingReplicas is null ? (short)0 : (short)1;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteUuid(TopicId);
        writer.WriteInt32(PartitionId);
        MetadataRecordCodec.WriteInt32Array(ref writer, Isr);
        writer.WriteInt32(Leader);
        MetadataRecordCodec.WriteInt32Array(ref writer, Replicas);
        if (Version > 0)
        {
            MetadataRecordCodec.WriteInt32Array(ref writer, AddingReplicas);
            MetadataRecordCodec.WriteInt32Array(ref writer, RemovingReplicas);
        }
    }

    internal static PartitionChangeRecord Read(ref KafkaReader reader, short version) => new(
        reader.ReadUuid(),
        reader.ReadInt32(),
        MetadataRecordCodec.ReadInt32Array(ref reader),
        reader.ReadInt32(),
        MetadataRecordCodec.ReadInt32Array(ref reader),
        version > 0 ? MetadataRecordCodec.ReadInt32Array(ref reader) : null,
        version > 0 ? MetadataRecordCodec.ReadInt32Array(ref reader) : null);
}

/// <summary>A config was set, or deleted when <see cref="Value"/> is null (Kafka's ConfigRecord).</summary>
/// <param name="ResourceType">Topic or broker.</param>
/// <param name="ResourceName">The topic name, or the broker id ("" for the cluster default).</param>
/// <param name="Name">The config name, e.g. <c>retention.ms</c>.</param>
/// <param name="Value">The value, or null to delete the override.</param>
public sealed record ConfigRecord(ConfigResourceType ResourceType, string ResourceName, string Name, string? Value) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.Config;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteInt8((sbyte)ResourceType);
        writer.WriteString(ResourceName, compact: true);
        writer.WriteString(Name, compact: true);
        writer.WriteNullableString(Value, compact: true);
    }

    internal static ConfigRecord Read(ref KafkaReader reader) => new(
        (ConfigResourceType)reader.ReadInt8(), reader.ReadCompactString(), reader.ReadCompactString(), reader.ReadCompactNullableString());
}

/// <summary>A topic and all its partitions were deleted (Kafka's RemoveTopicRecord).</summary>
/// <param name="TopicId">The topic id.</param>
public sealed record RemoveTopicRecord(Guid TopicId) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.RemoveTopic;

    internal override void WriteBody(ref KafkaWriter writer) => writer.WriteUuid(TopicId);

    internal static RemoveTopicRecord Read(ref KafkaReader reader) => new(reader.ReadUuid());
}

/// <summary>
/// A block of producer ids was handed to a broker (Kafka's ProducerIdsRecord): ids below
/// <see cref="NextProducerId"/> are taken.
/// </summary>
/// <param name="BrokerId">The broker that asked.</param>
/// <param name="BrokerEpoch">Its epoch.</param>
/// <param name="NextProducerId">The first id not yet handed out.</param>
public sealed record ProducerIdsRecord(int BrokerId, long BrokerEpoch, long NextProducerId) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.ProducerIds;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteInt32(BrokerId);
        writer.WriteInt64(BrokerEpoch);
        writer.WriteInt64(NextProducerId);
    }

    internal static ProducerIdsRecord Read(ref KafkaReader reader) => new(reader.ReadInt32(), reader.ReadInt64(), reader.ReadInt64());
}

/// <summary>
/// A user's salted, iterated SCRAM credential for one mechanism (Kafka's UserScramCredentialRecord, RFC 5802):
/// never the password, only what verifies a proof of it.
/// </summary>
/// <param name="Name">The user name.</param>
/// <param name="Mechanism">The SCRAM mechanism.</param>
/// <param name="Salt">The salt.</param>
/// <param name="StoredKey">H(ClientKey).</param>
/// <param name="ServerKey">HMAC(SaltedPassword, "Server Key").</param>
/// <param name="Iterations">The PBKDF2 iteration count.</param>
public sealed record UserScramCredentialRecord(string Name, ScramMechanism Mechanism, byte[] Salt, byte[] StoredKey, byte[] ServerKey, int Iterations) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.UserScramCredential;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteString(Name, compact: true);
        writer.WriteInt8((sbyte)Mechanism);
        writer.WriteBytes(Salt, compact: true);
        writer.WriteBytes(StoredKey, compact: true);
        writer.WriteBytes(ServerKey, compact: true);
        writer.WriteInt32(Iterations);
    }

    internal static UserScramCredentialRecord Read(ref KafkaReader reader) =>
        new(reader.ReadCompactString(), (ScramMechanism)reader.ReadInt8(), reader.ReadBytes(compact: true), reader.ReadBytes(compact: true), reader.ReadBytes(compact: true), reader.ReadInt32());
}

/// <summary>A user's SCRAM credential for one mechanism was removed (Kafka's RemoveUserScramCredentialRecord).</summary>
/// <param name="Name">The user name.</param>
/// <param name="Mechanism">The SCRAM mechanism.</param>
public sealed record RemoveUserScramCredentialRecord(string Name, ScramMechanism Mechanism) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.RemoveUserScramCredential;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteString(Name, compact: true);
        writer.WriteInt8((sbyte)Mechanism);
    }

    internal static RemoveUserScramCredentialRecord Read(ref KafkaReader reader) => new(reader.ReadCompactString(), (ScramMechanism)reader.ReadInt8());
}

/// <summary>Kafka's SCRAM mechanism codes (ScramMechanism: the codes the SCRAM admin APIs use).</summary>
public enum ScramMechanism : sbyte
{
    /// <summary>Not a mechanism Kafka knows.</summary>
    Unknown = 0,

    /// <summary>SCRAM-SHA-256 (RFC 7677).</summary>
    ScramSha256 = 1,

    /// <summary>SCRAM-SHA-512.</summary>
    ScramSha512 = 2,
}

/// <summary>
/// An ACL (Kafka's AccessControlEntryRecord): a principal may (ALLOW) or may not (DENY) perform an operation on
/// resources of a type whose name matches literally or by prefix, from a host.
/// </summary>
/// <param name="Id">The ACL's id.</param>
/// <param name="ResourceType">Kafka's resource type code (2 topic, 3 group, 4 cluster, 5 transactional id, ...).</param>
/// <param name="ResourceName">The resource name or prefix ("*" with a literal pattern: every resource of the type).</param>
/// <param name="PatternType">Kafka's pattern type code (3 literal, 4 prefixed).</param>
/// <param name="Principal">The principal, e.g. "User:alice", or "User:*".</param>
/// <param name="Host">The host, or "*".</param>
/// <param name="Operation">Kafka's operation code (2 all, 3 read, 4 write, ...).</param>
/// <param name="PermissionType">Kafka's permission code (2 deny, 3 allow).</param>
/// <param name="Tenant">
/// The tenant whose ACL this is (its resource names are stored names of the tenant's namespace, and it applies only to
/// the tenant's own principals), or null for the operators' ACLs. Written from version 1 of the record.
/// </param>
public sealed record AccessControlEntryRecord(Guid Id, sbyte ResourceType, string ResourceName, sbyte PatternType, string Principal, string Host, sbyte Operation, sbyte PermissionType, string? Tenant = null) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.AccessControlEntry;

    /// <inheritdoc/>
    public override short Version => Tenant is null ? (short)0 : (short)1;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        writer.WriteUuid(Id);
        writer.WriteInt8(ResourceType);
        writer.WriteString(ResourceName, compact: true);
        writer.WriteInt8(PatternType);
        writer.WriteString(Principal, compact: true);
        writer.WriteString(Host, compact: true);
        writer.WriteInt8(Operation);
        writer.WriteInt8(PermissionType);
        if (Tenant is not null)
        {
            writer.WriteString(Tenant, compact: true);
        }
    }

    internal static AccessControlEntryRecord Read(ref KafkaReader reader, short version) => new(
        reader.ReadUuid(), reader.ReadInt8(), reader.ReadCompactString(), reader.ReadInt8(), reader.ReadCompactString(), reader.ReadCompactString(), reader.ReadInt8(), reader.ReadInt8(),
        version >= 1 ? reader.ReadCompactString() : null);
}

/// <summary>An ACL was deleted (Kafka's RemoveAccessControlEntryRecord).</summary>
/// <param name="Id">The ACL's id.</param>
public sealed record RemoveAccessControlEntryRecord(Guid Id) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.RemoveAccessControlEntry;

    internal override void WriteBody(ref KafkaWriter writer) => writer.WriteUuid(Id);

    internal static RemoveAccessControlEntryRecord Read(ref KafkaReader reader) => new(reader.ReadUuid());
}

/// <summary>
/// A client quota was set or removed (Kafka's ClientQuotaRecord): the value of one quota key
/// (<c>producer_byte_rate</c>, <c>consumer_byte_rate</c>, <c>request_percentage</c>, ...) of one entity.
/// </summary>
/// <param name="Entity">The entity.</param>
/// <param name="Key">The quota key.</param>
/// <param name="Value">The value; ignored when <paramref name="Remove"/> is set.</param>
/// <param name="Remove">Whether the key is removed rather than set.</param>
public sealed record ClientQuotaRecord(ClientQuotaEntity Entity, string Key, double Value, bool Remove) : MetadataRecord
{
    /// <inheritdoc/>
    public override MetadataRecordType Type => MetadataRecordType.ClientQuota;

    internal override void WriteBody(ref KafkaWriter writer)
    {
        var parts = Entity.Parts().ToList();
        writer.WriteUnsignedVarInt(parts.Count);
        foreach (var (type, name) in parts)
        {
            writer.WriteString(type, compact: true);
            writer.WriteNullableString(name, compact: true);
        }

        writer.WriteString(Key, compact: true);
        writer.WriteFloat64(Value);
        writer.WriteBool(Remove);
    }

    internal static ClientQuotaRecord Read(ref KafkaReader reader)
    {
        var count = (int)reader.ReadUnsignedVarInt();
        QuotaEntityName? user = null, clientId = null, ip = null;
        for (var i = 0; i < count; i++)
        {
            var type = reader.ReadCompactString();
            var name = new QuotaEntityName(reader.ReadCompactNullableString());
            switch (type)
            {
                case ClientQuotaEntity.UserType when user is null:
                    user = name;
                    break;
                case ClientQuotaEntity.ClientIdType when clientId is null:
                    clientId = name;
                    break;
                case ClientQuotaEntity.IpType when ip is null:
                    ip = name;
                    break;
                default:
                    throw new MetadataFormatException($"ClientQuotaRecord names entity type '{type}' twice or an unknown one.");
            }
        }

        return new(new ClientQuotaEntity(user, clientId, ip), reader.ReadCompactString(), reader.ReadFloat64(), reader.ReadBool());
    }
}
