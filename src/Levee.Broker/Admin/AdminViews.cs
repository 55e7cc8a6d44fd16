using Levee.Broker.Tenants;

namespace Levee.Broker.Admin;

/// <summary>GET /api/cluster: the cluster as this broker's metadata image shows it.</summary>
/// <param name="ClusterId">The cluster id.</param>
/// <param name="ControllerId">The active controller (the metadata quorum's leader), null while there is none.</param>
/// <param name="Broker">The broker answering.</param>
/// <param name="MetadataOffset">The offset of the metadata log this image has applied.</param>
/// <param name="Brokers">Every registered broker.</param>
public sealed record ClusterView(string ClusterId, int? ControllerId, int Broker, long MetadataOffset, IReadOnlyList<BrokerView> Brokers);

/// <summary>One registered broker.</summary>
/// <param name="Id">Its id.</param>
/// <param name="State"><c>alive</c> (registered and unfenced), <c>shutting_down</c> (controlled shutdown) or <c>fenced</c> (down, or not yet caught up).</param>
/// <param name="Fenced">Whether it is fenced: it leads nothing and is in no ISR.</param>
/// <param name="Rack">Its rack, if any.</param>
/// <param name="Endpoints">Its advertised listeners.</param>
/// <param name="Leaders">Partitions it leads.</param>
/// <param name="Replicas">Partition replicas assigned to it.</param>
public sealed record BrokerView(int Id, string State, bool Fenced, string? Rack, IReadOnlyList<EndpointView> Endpoints, int Leaders, int Replicas);

/// <summary>An advertised listener.</summary>
/// <param name="Name">The listener name.</param>
/// <param name="Host">Its host.</param>
/// <param name="Port">Its port.</param>
/// <param name="SecurityProtocol">PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.</param>
public sealed record EndpointView(string Name, string Host, int Port, string SecurityProtocol);

/// <summary>GET /api/topics: one topic.</summary>
/// <param name="Name">Its stored name (a tenant's topics carry the tenant's prefix).</param>
/// <param name="Id">Its topic id.</param>
/// <param name="Tenant">The tenant owning it, if any.</param>
/// <param name="ReplicationFactor">Replicas per partition.</param>
/// <param name="UnderReplicated">Partitions whose ISR is smaller than their replicas.</param>
/// <param name="Offline">Partitions without a leader.</param>
/// <param name="Partitions">Its partitions.</param>
public sealed record TopicView(string Name, Guid Id, string? Tenant, int ReplicationFactor, int UnderReplicated, int Offline, IReadOnlyList<PartitionView> Partitions);

/// <summary>One partition.</summary>
/// <param name="Partition">Its index.</param>
/// <param name="Leader">Its leader, -1 when offline.</param>
/// <param name="LeaderEpoch">Its leader epoch.</param>
/// <param name="Replicas">Its replicas, preferred leader first.</param>
/// <param name="Isr">Its in-sync replicas.</param>
/// <param name="UnderReplicated">Whether the ISR is smaller than the replicas.</param>
/// <param name="Offline">Whether it has no leader.</param>
/// <param name="HighWatermark">The high watermark of this broker's replica; null when it holds none.</param>
/// <param name="LogSizeBytes">The size of this broker's replica's log; null when it holds none.</param>
public sealed record PartitionView(int Partition, int Leader, int LeaderEpoch, IReadOnlyList<int> Replicas, IReadOnlyList<int> Isr, bool UnderReplicated, bool Offline, long? HighWatermark, long? LogSizeBytes);

/// <summary>GET /api/groups: a consumer group this broker coordinates.</summary>
/// <param name="GroupId">The group id.</param>
/// <param name="State">Its state.</param>
/// <param name="ProtocolType">Its protocol type.</param>
/// <param name="Members">Its members.</param>
/// <param name="Lag">Records behind the high watermarks over the partitions this broker holds.</param>
/// <param name="Partitions">Its committed offsets.</param>
public sealed record GroupView(string GroupId, string State, string ProtocolType, int Members, long Lag, IReadOnlyList<GroupPartitionView> Partitions);

/// <summary>A group's committed offset in one partition.</summary>
/// <param name="Topic">The topic.</param>
/// <param name="Partition">The partition.</param>
/// <param name="CommittedOffset">The offset committed.</param>
/// <param name="HighWatermark">The partition's high watermark here; null when this broker holds no replica of it.</param>
/// <param name="Lag">Records between the two; null when the high watermark is not known here.</param>
public sealed record GroupPartitionView(string Topic, int Partition, long CommittedOffset, long? HighWatermark, long? Lag);

/// <summary>GET /api/tenants: one tenant.</summary>
/// <param name="Name">Its name (and its topics' prefix).</param>
/// <param name="Plan">Its plan.</param>
/// <param name="Users">Its SCRAM users.</param>
/// <param name="Topics">Its topics.</param>
/// <param name="Partitions">Its partitions.</param>
/// <param name="Limits">Its plan's limits (producer_byte_rate, consumer_byte_rate, storage_bytes, partitions, connections, ...).</param>
/// <param name="Usage">What it uses on this broker.</param>
public sealed record TenantView(string Name, string Plan, IReadOnlyList<string> Users, int Topics, int Partitions, IReadOnlyDictionary<string, long> Limits, TenantUsageSnapshot Usage);

/// <summary>GET /api/elections: the latest leader changes this broker applied, newest first.</summary>
/// <param name="LeaderElections">Elections since this broker started.</param>
/// <param name="IsrShrinks">ISR shrinks since it started.</param>
/// <param name="IsrExpands">ISR expansions since it started.</param>
/// <param name="Recent">The latest leader changes (a leader of -1: the partition went offline).</param>
public sealed record ElectionsView(long LeaderElections, long IsrShrinks, long IsrExpands, IReadOnlyList<LeaderChange> Recent);
