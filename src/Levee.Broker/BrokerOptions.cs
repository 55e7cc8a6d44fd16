using System.Globalization;
using Levee.Broker.Groups;
using Levee.Broker.Logging;
using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Cluster.Quorum;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Logging;

namespace Levee.Broker;

/// <summary>
/// Settings of one broker. Keys are Kafka's own names where Kafka has one (log.dirs, node.id,
/// auto.create.topics.enable, ...). They come from flags, levee.json and LEVEE_* environment
/// variables through Microsoft.Extensions.Configuration; see <see cref="FromConfiguration"/>.
/// </summary>
public sealed record BrokerOptions
{
    /// <summary>This broker's id (node.id).</summary>
    public int NodeId { get; init; } = 1;

    /// <summary>Host the Kafka listener binds to and advertises.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Kafka listener port; 0 picks a free port (tests).</summary>
    public int Port { get; init; } = 9092;

    /// <summary>Data directory (log.dirs).</summary>
    public string DataDir { get; init; } = "./data";

    /// <summary>
    /// cluster.id, reported in Metadata and kept in meta.properties. When absent: derived from the voter list for a
    /// quorum of several voters (<see cref="ResolveClusterId"/>), else generated once and stored.
    /// </summary>
    public string? ClusterId { get; init; }

    /// <summary>log.format: <c>text</c> (one line per entry, the default) or <c>json</c> (one JSON object per line, for log shippers).</summary>
    public BrokerLogFormat LogFormat { get; init; } = BrokerLogFormat.Text;

    /// <summary>log.level: the lowest level logged (Information by default; Debug adds every retry and its stack trace).</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>auto.create.topics.enable: create a topic on first Metadata or Produce naming it.</summary>
    public bool AutoCreateTopics { get; init; } = true;

    /// <summary>num.partitions: partitions of an auto-created topic or of a CreateTopics request that leaves it at -1.</summary>
    public int DefaultPartitions { get; init; } = 1;

    /// <summary>default.replication.factor; -1 (the default) means min(3, available brokers).</summary>
    public short DefaultReplicationFactor { get; init; } = -1;

    /// <summary>socket.request.max.bytes: frames above it close the connection.</summary>
    public int SocketRequestMaxBytes { get; init; } = 100 * 1024 * 1024;

    /// <summary>
    /// connections.max.idle.ms (Kafka's, default 10 minutes): a connection idle this long is closed. Idle is the
    /// client's turn: no byte of a next request has come, or the client has not taken its last response. A request
    /// being handled however long (a long-poll fetch, a quota's throttle) or waiting for request memory is the
    /// broker's turn and does not count. Kafka's negative values (no limit) are refused: a very large value has that
    /// effect.
    /// </summary>
    public long ConnectionsMaxIdleMs { get; init; } = 600_000;

    /// <summary>
    /// request.arrival.timeout.ms (Levee's): once the first byte of a request has come, all of it must within this
    /// time, else the connection is closed and the memory drawn for the request given back. The default, 30 s, is the
    /// request timeout of Kafka's clients (request.timeout.ms): a request still arriving after it has been given up
    /// by its client. Time the request waits for the memory budget (queued.max.request.bytes) does not count.
    /// </summary>
    public long RequestArrivalTimeoutMs { get; init; } = 30_000;

    /// <summary>
    /// max.connections (Kafka's, default unlimited): the most connections this broker serves at once over all its
    /// listeners; further ones are closed when accepted. Connections to the inter-broker listener are never refused.
    /// </summary>
    public int MaxConnections { get; init; } = int.MaxValue;

    /// <summary>
    /// Checks <see cref="ConnectionsMaxIdleMs"/>, <see cref="RequestArrivalTimeoutMs"/> and <see cref="MaxConnections"/>:
    /// each must be positive.
    /// </summary>
    /// <exception cref="BrokerConfigurationException">One is zero or negative.</exception>
    public void CheckConnectionLimits()
    {
        Positive("connections.max.idle.ms", ConnectionsMaxIdleMs, ": Levee always closes idle connections (Kafka's negative values, no limit, are not accepted); a very large value keeps them open");
        Positive("request.arrival.timeout.ms", RequestArrivalTimeoutMs, "");
        Positive("max.connections", MaxConnections, "");

        static void Positive(string key, long value, string note)
        {
            if (value <= 0)
            {
                throw new BrokerConfigurationException($"Setting '{key}' must be positive, got {value.ToString(CultureInfo.InvariantCulture)}{note}.");
            }
        }
    }

    /// <summary>How many samples a client quota is measured over (Kafka's <c>quota.window.num</c>, default 11).</summary>
    public int QuotaWindowNum { get; init; } = 11;

    /// <summary>The length of one quota sample in seconds (Kafka's <c>quota.window.size.seconds</c>, default 1).</summary>
    public int QuotaWindowSizeSeconds { get; init; } = 1;

    /// <summary>
    /// queued.max.request.bytes: the most request bytes all connections together hold in memory; a connection whose
    /// next request does not fit waits, unread, until others are answered. Null means
    /// <see cref="DefaultQueuedMaxRequestBytes"/>; see <see cref="ResolveQueuedMaxRequestBytes"/>.
    /// </summary>
    public long? QueuedMaxRequestBytes { get; init; }

    /// <summary>The ceiling of the default <c>queued.max.request.bytes</c>: 512 MiB.</summary>
    public const long QueuedMaxRequestBytesCeiling = 512L * 1024 * 1024;

    /// <summary>
    /// The default <c>queued.max.request.bytes</c> (Kafka's is -1, unbounded): a quarter of the memory this process may
    /// use (the container's limit, if any, else the machine's), at most <see cref="QueuedMaxRequestBytesCeiling"/>, and
    /// never below <see cref="SocketRequestMaxBytes"/>, so that a request of the largest size accepted fits.
    /// </summary>
    public long DefaultQueuedMaxRequestBytes()
    {
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var quarter = available > 0 ? available / 4 : QueuedMaxRequestBytesCeiling;
        return Math.Max(SocketRequestMaxBytes, Math.Min(QueuedMaxRequestBytesCeiling, quarter));
    }

    /// <summary>The request memory budget this broker runs with: <see cref="QueuedMaxRequestBytes"/> or the default.</summary>
    /// <exception cref="BrokerConfigurationException">
    /// It is not positive, or below socket.request.max.bytes (Kafka refuses that too: a request of the largest size
    /// accepted could never be read).
    /// </exception>
    public long ResolveQueuedMaxRequestBytes()
    {
        if (QueuedMaxRequestBytes is not { } configured)
        {
            return DefaultQueuedMaxRequestBytes();
        }

        if (configured <= 0)
        {
            throw new BrokerConfigurationException($"Setting 'queued.max.request.bytes' must be a positive number of bytes, got {configured.ToString(CultureInfo.InvariantCulture)}: Levee always bounds the request bytes it holds (Kafka's -1, unbounded, is not accepted).");
        }

        if (configured < SocketRequestMaxBytes)
        {
            throw new BrokerConfigurationException($"Setting 'queued.max.request.bytes' ({configured.ToString(CultureInfo.InvariantCulture)}) must be at least socket.request.max.bytes ({SocketRequestMaxBytes.ToString(CultureInfo.InvariantCulture)}), as in Kafka: a request of the largest size accepted must fit.");
        }

        return configured;
    }

    /// <summary>
    /// queued.max.request.bytes.per.tenant (Levee's): the most of <c>queued.max.request.bytes</c> one tenant's
    /// connections together hold, so a tenant storming the broker leaves room for everyone else's requests. Null means
    /// a quarter of the budget, and never below socket.request.max.bytes; see <see cref="ResolveQueuedMaxRequestBytesPerTenant"/>.
    /// </summary>
    public long? QueuedMaxRequestBytesPerTenant { get; init; }

    /// <summary>The share of the request memory budget one tenant may hold.</summary>
    /// <exception cref="BrokerConfigurationException">It is below socket.request.max.bytes or above queued.max.request.bytes.</exception>
    public long ResolveQueuedMaxRequestBytesPerTenant()
    {
        var budget = ResolveQueuedMaxRequestBytes();
        if (QueuedMaxRequestBytesPerTenant is not { } configured)
        {
            return Math.Min(budget, Math.Max(SocketRequestMaxBytes, budget / 4));
        }

        if (configured < SocketRequestMaxBytes || configured > budget)
        {
            throw new BrokerConfigurationException($"Setting 'queued.max.request.bytes.per.tenant' ({configured.ToString(CultureInfo.InvariantCulture)}) must be between socket.request.max.bytes ({SocketRequestMaxBytes.ToString(CultureInfo.InvariantCulture)}) and queued.max.request.bytes ({budget.ToString(CultureInfo.InvariantCulture)}).");
        }

        return configured;
    }

    /// <summary>log.retention.check.interval.ms.</summary>
    public long RetentionCheckIntervalMs { get; init; } = 300_000;

    /// <summary>log.cleaner.enable: run the log cleaner for compacted topics (Kafka: true).</summary>
    public bool LogCleanerEnable { get; init; } = true;

    /// <summary>log.cleaner.threads (Kafka: 1).</summary>
    public int LogCleanerThreads { get; init; } = 1;

    /// <summary>log.cleaner.io.max.bytes.per.second: the cleaner threads' I/O, together (Kafka: unlimited).</summary>
    public double LogCleanerIoMaxBytesPerSecond { get; init; } = double.MaxValue;

    /// <summary>log.cleaner.backoff.ms: an idle cleaner thread's sleep (Kafka: 15 s).</summary>
    public long LogCleanerBackoffMs { get; init; } = 15_000;

    /// <summary>log.cleaner.dedupe.buffer.size: memory of all cleaner threads' offset maps (Kafka: 128 MiB).</summary>
    public long LogCleanerDedupeBufferSize { get; init; } = 128L * 1024 * 1024;

    /// <summary>log.cleaner.io.buffer.load.factor: how full an offset map may get (Kafka: 0.9).</summary>
    public double LogCleanerIoBufferLoadFactor { get; init; } = 0.9;

    /// <summary>producer.id.expiration.ms: the state of an idempotent producer idle this long is dropped (Kafka: 1 day).</summary>
    public long ProducerIdExpirationMs { get; init; } = 86_400_000;

    /// <summary>Broker-level defaults for topic configs (log.segment.bytes, log.retention.ms, message.max.bytes, ...), by topic config name.</summary>
    public IReadOnlyDictionary<string, string> TopicConfigDefaults { get; init; } = new Dictionary<string, string>();

    /// <summary>log.retention.hours as given (Kafka: 168); <see cref="TopicConfigDefaults"/> holds the retention.ms it implies unless log.retention.ms is given.</summary>
    public long? LogRetentionHours { get; init; }

    /// <summary>
    /// The keys given at start (flags, levee.json, environment), whatever their values: DescribeConfigs reports them
    /// as STATIC_BROKER_CONFIG, the others as DEFAULT_CONFIG. Options built in code leave it empty; a value other than
    /// the default then counts as given.
    /// </summary>
    public IReadOnlySet<string> ConfiguredKeys { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits for more members.</summary>
    public int GroupInitialRebalanceDelayMs { get; init; } = 3000;

    /// <summary>group.min.session.timeout.ms: the smallest session timeout a member may ask for.</summary>
    public int GroupMinSessionTimeoutMs { get; init; } = 6000;

    /// <summary>group.max.session.timeout.ms: the largest session timeout a member may ask for.</summary>
    public int GroupMaxSessionTimeoutMs { get; init; } = 1_800_000;

    /// <summary>group.max.size: the most members a classic group may have.</summary>
    public int GroupMaxSize { get; init; } = int.MaxValue;

    /// <summary>group.consumer.session.timeout.ms: a consumer group member (KIP-848) silent this long is removed.</summary>
    public int GroupConsumerSessionTimeoutMs { get; init; } = 45_000;

    /// <summary>group.consumer.heartbeat.interval.ms: how often consumer group members (KIP-848) are told to heartbeat.</summary>
    public int GroupConsumerHeartbeatIntervalMs { get; init; } = 5_000;

    /// <summary>group.consumer.assignors: the server assignors served, the first the default (Kafka: uniform, range).</summary>
    public IReadOnlyList<string> GroupConsumerAssignors { get; init; } = ConsumerGroupAssignors.Names;

    /// <summary>offsets.topic.num.partitions: partitions of __consumer_offsets when it is created.</summary>
    public int OffsetsTopicPartitions { get; init; } = 50;

    /// <summary>offsets.topic.segment.bytes: segment size of __consumer_offsets, small so that it compacts early (Kafka: 100 MiB).</summary>
    public int OffsetsTopicSegmentBytes { get; init; } = 104_857_600;

    /// <summary>transaction.state.log.num.partitions: partitions of __transaction_state when it is created.</summary>
    public int TransactionStateLogPartitions { get; init; } = 50;

    /// <summary>transaction.state.log.replication.factor: its replication factor (taken down to the brokers available, as for __consumer_offsets).</summary>
    public int TransactionStateLogReplicationFactor { get; init; } = 3;

    /// <summary>transaction.state.log.min.isr: its min.insync.replicas (at most its replication factor).</summary>
    public int TransactionStateLogMinIsr { get; init; } = 2;

    /// <summary>transaction.state.log.segment.bytes: its segment size.</summary>
    public int TransactionStateLogSegmentBytes { get; init; } = 104_857_600;

    /// <summary>transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for (INVALID_TRANSACTION_TIMEOUT above).</summary>
    public int TransactionMaxTimeoutMs { get; init; } = 900_000;

    /// <summary>transaction.abort.timed.out.transaction.cleanup.interval.ms: how often transactions past their timeout are looked for and aborted.</summary>
    public int TransactionAbortTimedOutCleanupIntervalMs { get; init; } = 10_000;

    /// <summary>
    /// transaction.partition.verification.enable: a producer's first transactional write to a partition (Produce, or
    /// TxnOffsetCommit to a group's __consumer_offsets partition) is appended only once its transaction coordinator
    /// confirms the partition is in the ongoing transaction (KIP-890; Kafka's default, true).
    /// </summary>
    public bool TransactionPartitionVerificationEnable { get; init; } = true;

    /// <summary>offsets.retention.minutes: how long the offsets of an empty group are kept.</summary>
    public long OffsetsRetentionMinutes { get; init; } = 10_080;

    /// <summary>offsets.retention.check.interval.ms: how often expired offsets are looked for.</summary>
    public long OffsetsRetentionCheckIntervalMs { get; init; } = 600_000;

    /// <summary>offset.metadata.max.bytes: the largest metadata string an offset commit may carry.</summary>
    public int OffsetMetadataMaxBytes { get; init; } = 4096;

    /// <summary>
    /// controller.quorum.voters: the metadata quorum as id@host:port,...; null means this broker alone,
    /// a one-voter quorum on <see cref="QuorumPort"/> (the same code path as a cluster).
    /// </summary>
    public string? QuorumVoters { get; init; }

    /// <summary>
    /// The cluster id this broker must carry: <see cref="ClusterId"/>, else for a quorum of several voters one derived
    /// from the voter list (so the nodes of one cluster agree without being told), else null (generated and stored).
    /// </summary>
    public string? ResolveClusterId() =>
        ClusterId ?? (QuorumVoters is { } voters && QuorumVoter.ParseList(voters) is { Count: > 1 } parsed ? QuorumVoter.DeriveClusterId(parsed) : null);

    /// <summary>Port of this node's Raft listener when <see cref="QuorumVoters"/> is not given (9093); 0 picks a free port.</summary>
    public int QuorumPort { get; init; } = 9093;

    /// <summary>
    /// quorum.security.protocol: PLAINTEXT (default) or SSL. SSL runs the metadata quorum's Raft traffic over mutual TLS
    /// with the broker's keystore and truststore: a voter presents its certificate and takes only peers whose
    /// certificate chains to the truststore's CAs.
    /// </summary>
    public SecurityProtocol QuorumSecurityProtocol { get; init; } = SecurityProtocol.Plaintext;

    /// <summary>broker.session.timeout.ms: a broker whose heartbeats stop for this long is fenced.</summary>
    public int BrokerSessionTimeoutMs { get; init; } = 9000;

    /// <summary>broker.heartbeat.interval.ms.</summary>
    public int BrokerHeartbeatIntervalMs { get; init; } = 2000;

    /// <summary>replica.lag.time.max.ms: a follower not caught up for this long leaves the ISR.</summary>
    public int ReplicaLagTimeMaxMs { get; init; } = 30_000;

    /// <summary>replica.fetch.wait.max.ms.</summary>
    public int ReplicaFetchWaitMaxMs { get; init; } = 500;

    /// <summary>leader.imbalance.check.interval.seconds: how often preferred leaders are restored.</summary>
    public int LeaderImbalanceCheckIntervalSeconds { get; init; } = 300;

    /// <summary>replica.socket.timeout.ms: a replica fetch unanswered this long after its max wait is retried on a new connection.</summary>
    public int ReplicaSocketTimeoutMs { get; init; } = 30_000;

    /// <summary>
    /// controller.max.records.per.user.op: the most metadata records one admin request may produce (a topic and
    /// its partitions, configs). Kafka's controller has the same bound, fixed at 10,000, and refuses a larger
    /// request with POLICY_VIOLATION.
    /// </summary>
    public int MaxRecordsPerUserOp { get; init; } = 10_000;

    /// <summary>sasl.enabled.mechanisms: what SASL listeners offer (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).</summary>
    public string SaslEnabledMechanisms { get; init; } = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512";

    /// <summary>connection.failed.authentication.delay.ms: how long a failed authentication waits before it is answered.</summary>
    public int ConnectionFailedAuthenticationDelayMs { get; init; } = 100;

    /// <summary>connections.max.reauth.ms: a SASL session's lifetime (KIP-368); 0 keeps sessions for the connection's life.</summary>
    public long ConnectionsMaxReauthMs { get; init; }

    /// <summary>max.partitions.per.topic: CreateTopics and CreatePartitions refuse more with INVALID_PARTITIONS.</summary>
    public int MaxPartitionsPerTopic { get; init; } = 10_000;

    /// <summary>
    /// broker.capacity.partitions: the most partition replicas one broker may host. With the other
    /// <c>broker.capacity.*</c> limits it is every broker's capacity as this node's controller models it
    /// (docs/cascades.md); a BROKER config of the same key in the metadata log overrides it for one broker or all.
    /// </summary>
    public int BrokerCapacityPartitions { get; init; } = 50_000;

    /// <summary>broker.capacity.disk.bytes: log bytes a broker can hold; null: the size of the file system of log.dirs.</summary>
    public long? BrokerCapacityDiskBytes { get; init; }

    /// <summary>broker.capacity.bytes.in.per.sec: bytes per second a broker can receive; null: its network's speed (1 Gbit/s when unknown).</summary>
    public long? BrokerCapacityBytesInPerSec { get; init; }

    /// <summary>broker.capacity.bytes.out.per.sec: bytes per second a broker can send; null: its network's speed (1 Gbit/s when unknown).</summary>
    public long? BrokerCapacityBytesOutPerSec { get; init; }

    /// <summary>broker.capacity.connections: client connections a broker can hold; null: half its open-file limit.</summary>
    public long? BrokerCapacityConnections { get; init; }

    /// <summary>headroom.margin: the part of every limit that must stay free after the loss of any one broker or rack (0.2).</summary>
    public double HeadroomMargin { get; init; } = 0.2;

    /// <summary>
    /// broker.failure.self.healing.threshold.ms (Cruise Control's name): how long a broker must be down before the
    /// controller re-creates its replicas on survivors (30 minutes, Cruise Control's default).
    /// </summary>
    public long SelfHealingThresholdMs { get; init; } = 1_800_000;

    /// <summary>
    /// leader.replication.throttled.rate (KIP-73's key): bytes per second a leader sends to followers catching up
    /// (not in the ISR); null: <c>broker.capacity.bytes.out.per.sec</c> x <c>headroom.margin</c> / 2, at least 1 MiB/s.
    /// </summary>
    public long? LeaderReplicationThrottledRate { get; init; }

    /// <summary>self.healing.max.concurrent.replicas: replicas being re-created (catching up) at once, cluster-wide.</summary>
    public int SelfHealingMaxConcurrentReplicas { get; init; } = 50;

    /// <summary>The admin bounds and capacity this node's controller decides with.</summary>
    public AdminLimits ResolveAdminLimits() => new(MaxRecordsPerUserOp, MaxPartitionsPerTopic, ResolveCapacity(), HeadroomMargin);

    /// <summary>The <c>broker.capacity.*</c> limits, with the unset ones derived from this machine.</summary>
    public BrokerCapacity ResolveCapacity() => new(
        BrokerCapacityPartitions,
        BrokerCapacityDiskBytes ?? MachineCapacity.DiskBytes(DataDir),
        BrokerCapacityBytesInPerSec ?? MachineCapacity.NetworkBytesPerSec(),
        BrokerCapacityBytesOutPerSec ?? MachineCapacity.NetworkBytesPerSec(),
        BrokerCapacityConnections ?? MachineCapacity.Connections());

    /// <summary>
    /// listeners: Kafka's NAME://host:port,...; null means one PLAINTEXT listener on <see cref="Host"/>:<see cref="Port"/>
    /// (and, in a cluster of several voters, a BROKER listener for inter-broker traffic on a free port).
    /// </summary>
    public string? Listeners { get; init; }

    /// <summary>advertised.listeners: NAME://host:port for listeners whose address others must reach differently.</summary>
    public string? AdvertisedListeners { get; init; }

    /// <summary>listener.security.protocol.map: NAME:PROTOCOL,...; null means Kafka's default map plus BROKER:PLAINTEXT.</summary>
    public string? ListenerSecurityProtocolMap { get; init; }

    /// <summary>inter.broker.listener.name: the listener brokers reach each other on; null means BROKER when there is one.</summary>
    public string? InterBrokerListenerName { get; init; }

    /// <summary>ssl.keystore.type: the format of <see cref="SslKeystoreLocation"/>; only PEM is read.</summary>
    public string SslKeystoreType { get; init; } = "PEM";

    /// <summary>
    /// ssl.keystore.location: a PEM file holding this broker's private key and certificate chain (leaf first), served
    /// on every TLS listener and presented as client certificate to other brokers. Read again when it changes.
    /// </summary>
    public string? SslKeystoreLocation { get; init; }

    /// <summary>ssl.key.password: the password of an encrypted private key in the keystore; never logged.</summary>
    public SecretText? SslKeyPassword { get; init; }

    /// <summary>ssl.truststore.type: the format of <see cref="SslTruststoreLocation"/>; only PEM is read.</summary>
    public string SslTruststoreType { get; init; } = "PEM";

    /// <summary>
    /// ssl.truststore.location: a PEM bundle of the CAs that client certificates (and other brokers' server
    /// certificates) must chain to; null means the system's CAs.
    /// </summary>
    public string? SslTruststoreLocation { get; init; }

    /// <summary>ssl.client.auth: whether TLS listeners ask clients for a certificate.</summary>
    public SslClientAuth SslClientAuth { get; init; } = SslClientAuth.None;

    /// <summary>ssl.principal.mapping.rules: how a client certificate's subject becomes a principal name (Kafka's syntax).</summary>
    public string? SslPrincipalMappingRules { get; init; }

    /// <summary>
    /// ssl.endpoint.identification.algorithm: <c>https</c> (the default) checks that another broker's certificate
    /// names the host connected to; empty turns the check off.
    /// </summary>
    public string SslEndpointIdentificationAlgorithm { get; init; } = "https";

    /// <summary>
    /// authorizer.enabled: check every request against the ACLs in the metadata log (Kafka's StandardAuthorizer).
    /// Off by default, as a Kafka broker without <c>authorizer.class.name</c>: every operation is then allowed.
    /// </summary>
    public bool AuthorizerEnabled { get; init; }

    /// <summary>super.users: principals (Kafka's <c>User:a;User:b</c>) allowed every operation whatever the ACLs say.</summary>
    public IReadOnlySet<string> SuperUsers { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>allow.everyone.if.no.acl.found: with the authorizer on, a resource no ACL names is open to everyone.</summary>
    public bool AllowEveryoneIfNoAclFound { get; init; }

    /// <summary>
    /// admin.listener (Levee's): host:port of the admin HTTP listener (JSON API, <c>/metrics</c>, the dashboard); port 0
    /// picks a free one. Null means none: the default of a broker embedded or started by tests. <c>levee serve</c>
    /// reads it with <see cref="FromConfiguration"/>, whose default is <see cref="DefaultAdminListener"/> and where an
    /// empty value or <c>off</c> turns it off.
    /// </summary>
    public string? AdminListener { get; init; }

    /// <summary>The admin listener of <c>levee serve</c> when <c>admin.listener</c> is not set.</summary>
    public const string DefaultAdminListener = "127.0.0.1:8080";

    /// <summary>
    /// admin.token (Levee's): the bearer token every admin HTTP request but the dashboard page must carry
    /// (<c>Authorization: Bearer ...</c>); required when <see cref="AdminListener"/> is not on loopback. Never logged.
    /// </summary>
    public SecretText? AdminToken { get; init; }

    /// <summary>Whether <see cref="QuorumVoters"/> lists more than this node: brokers then talk to each other.</summary>
    public bool HasSeveralVoters => QuorumVoters is { } voters && QuorumVoter.ParseList(voters).Count > 1;

    /// <summary>
    /// Reads options from configuration. Keys are normalised (lower case, '_' and '-' become '.'),
    /// so LEVEE_LOG_DIRS, --log-dirs and "log.dirs" all name the same setting. data.dir is an alias of log.dirs.
    /// </summary>
    /// <exception cref="BrokerConfigurationException">
    /// A key is unknown or its value malformed. A LEVEE_* environment variable is a setting only when its name falls
    /// in the namespace of one (its first word is the first word of a known key: LEVEE_LOG_DIR is refused as a
    /// misspelling of log.dirs, LEVEE_HOME is not a setting and is left alone).
    /// </exception>
    public static BrokerOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        // Several spellings normalise to one key (LEVEE_LOG_DIRS and "log.dirs"), so precedence must
        // follow the providers' order (later wins), not the order keys happen to be enumerated in.
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var fromEnvironment = new HashSet<string>(StringComparer.Ordinal);
        IEnumerable<IConfigurationProvider> providers = configuration is IConfigurationRoot root ? root.Providers : [];
        foreach (var provider in providers)
        {
            foreach (var key in provider.GetChildKeys([], null).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                if (provider.TryGet(key, out var value) && value is not null)
                {
                    var normalised = Normalise(key);
                    values[normalised] = value;
                    if (provider is EnvironmentVariablesConfigurationProvider)
                    {
                        fromEnvironment.Add(normalised);
                    }
                    else
                    {
                        fromEnvironment.Remove(normalised);
                    }
                }
            }
        }

        if (configuration is not IConfigurationRoot)
        {
            foreach (var pair in configuration.AsEnumerable())
            {
                if (pair.Value is not null)
                {
                    values[Normalise(pair.Key)] = pair.Value;
                }
            }
        }

        var settings = new Settings(values);
        var options = Read(settings);
        settings.RefuseUnknown(fromEnvironment);
        options = options with { ConfiguredKeys = values.Keys.Select(k => k == "data.dir" ? "log.dirs" : k).ToHashSet(StringComparer.Ordinal) };
        options.ResolveQueuedMaxRequestBytes();
        options.CheckConnectionLimits();
        Admin.AdminEndpoint.Resolve(options);
        if (values.ContainsKey("listeners") && (values.ContainsKey("port") || values.ContainsKey("host")))
        {
            throw new BrokerConfigurationException("port and host describe the default PLAINTEXT listener; with listeners set, give every listener's host and port there.");
        }

        return options;
    }

    private static BrokerOptions Read(Settings values)
    {
        var defaults = new BrokerOptions();
        var topicDefaults = new Dictionary<string, string>(StringComparer.Ordinal);
        // The broker defaults of topic configs, checked as the topic configs are (a value no topic could take stops the start).
        foreach (var topic in Topics.TopicConfigDefinitions.All.Values.Where(d => d.BrokerSynonym is not null))
        {
            if (values.Str(topic.BrokerSynonym!) is { } v)
            {
                // Kafka refuses to start with a bad default (compression.type=zip) rather than failing each topic later.
                topicDefaults[topic.Name] = topic.Validate?.Invoke(v) is { } problem
                    ? throw new BrokerConfigurationException($"Setting '{topic.BrokerSynonym}' has an invalid value '{v}': {problem}.")
                    : v;
            }
        }

        var retentionHours = values.Long("log.retention.hours");
        if (retentionHours is { } hours && !topicDefaults.ContainsKey("retention.ms"))
        {
            topicDefaults["retention.ms"] = (hours * 3_600_000L).ToString(CultureInfo.InvariantCulture);
        }

        var dataDirAlias = values.Str("data.dir");
        return new BrokerOptions
        {
            NodeId = values.Int("node.id") ?? defaults.NodeId,
            Host = values.Str("host") ?? defaults.Host,
            Port = values.Int("port") ?? defaults.Port,
            DataDir = values.Str("log.dirs") ?? dataDirAlias ?? defaults.DataDir,
            ClusterId = values.Str("cluster.id"),
            LogFormat = values.Str("log.format") is { } format ? ParseEnum<BrokerLogFormat>("log.format", format) : defaults.LogFormat,
            LogLevel = values.Str("log.level") is { } level ? ParseEnum<LogLevel>("log.level", level) : defaults.LogLevel,
            AutoCreateTopics = values.Bool("auto.create.topics.enable") ?? defaults.AutoCreateTopics,
            DefaultPartitions = values.Int("num.partitions") ?? defaults.DefaultPartitions,
            DefaultReplicationFactor = (short)(values.Int("default.replication.factor") ?? defaults.DefaultReplicationFactor),
            SocketRequestMaxBytes = values.Int("socket.request.max.bytes") ?? defaults.SocketRequestMaxBytes,
            QuotaWindowNum = AtLeast("quota.window.num", values.Int("quota.window.num") ?? defaults.QuotaWindowNum, 2),
            QuotaWindowSizeSeconds = AtLeast("quota.window.size.seconds", values.Int("quota.window.size.seconds") ?? defaults.QuotaWindowSizeSeconds, 1),
            QueuedMaxRequestBytes = values.Long("queued.max.request.bytes"),
            QueuedMaxRequestBytesPerTenant = values.Long("queued.max.request.bytes.per.tenant"),
            ConnectionsMaxIdleMs = values.Long("connections.max.idle.ms") ?? defaults.ConnectionsMaxIdleMs,
            RequestArrivalTimeoutMs = values.Long("request.arrival.timeout.ms") ?? defaults.RequestArrivalTimeoutMs,
            MaxConnections = values.Int("max.connections") ?? defaults.MaxConnections,
            RetentionCheckIntervalMs = values.Long("log.retention.check.interval.ms") ?? defaults.RetentionCheckIntervalMs,
            LogCleanerEnable = values.Bool("log.cleaner.enable") ?? defaults.LogCleanerEnable,
            LogCleanerThreads = Positive(values.Int("log.cleaner.threads"), "log.cleaner.threads") ?? defaults.LogCleanerThreads,
            LogCleanerIoMaxBytesPerSecond = Positive(values.Double("log.cleaner.io.max.bytes.per.second"), "log.cleaner.io.max.bytes.per.second") ?? defaults.LogCleanerIoMaxBytesPerSecond,
            LogCleanerBackoffMs = Positive(values.Long("log.cleaner.backoff.ms"), "log.cleaner.backoff.ms") ?? defaults.LogCleanerBackoffMs,
            LogCleanerDedupeBufferSize = Positive(values.Long("log.cleaner.dedupe.buffer.size"), "log.cleaner.dedupe.buffer.size") ?? defaults.LogCleanerDedupeBufferSize,
            LogCleanerIoBufferLoadFactor = Positive(values.Double("log.cleaner.io.buffer.load.factor"), "log.cleaner.io.buffer.load.factor") ?? defaults.LogCleanerIoBufferLoadFactor,
            ProducerIdExpirationMs = values.Long("producer.id.expiration.ms") ?? defaults.ProducerIdExpirationMs,
            TopicConfigDefaults = topicDefaults,
            LogRetentionHours = retentionHours,
            GroupInitialRebalanceDelayMs = values.Int("group.initial.rebalance.delay.ms") ?? defaults.GroupInitialRebalanceDelayMs,
            GroupMinSessionTimeoutMs = values.Int("group.min.session.timeout.ms") ?? defaults.GroupMinSessionTimeoutMs,
            GroupMaxSessionTimeoutMs = values.Int("group.max.session.timeout.ms") ?? defaults.GroupMaxSessionTimeoutMs,
            GroupMaxSize = values.Int("group.max.size") ?? defaults.GroupMaxSize,
            GroupConsumerSessionTimeoutMs = Positive(values.Int("group.consumer.session.timeout.ms"), "group.consumer.session.timeout.ms") ?? defaults.GroupConsumerSessionTimeoutMs,
            GroupConsumerHeartbeatIntervalMs = Positive(values.Int("group.consumer.heartbeat.interval.ms"), "group.consumer.heartbeat.interval.ms") ?? defaults.GroupConsumerHeartbeatIntervalMs,
            GroupConsumerAssignors = ParseAssignors(values.Str("group.consumer.assignors")) ?? defaults.GroupConsumerAssignors,
            OffsetsTopicPartitions = values.Int("offsets.topic.num.partitions") ?? defaults.OffsetsTopicPartitions,
            OffsetsTopicSegmentBytes = Positive(values.Int("offsets.topic.segment.bytes"), "offsets.topic.segment.bytes") ?? defaults.OffsetsTopicSegmentBytes,
            OffsetsRetentionMinutes = values.Long("offsets.retention.minutes") ?? defaults.OffsetsRetentionMinutes,
            TransactionStateLogPartitions = Positive(values.Int("transaction.state.log.num.partitions"), "transaction.state.log.num.partitions") ?? defaults.TransactionStateLogPartitions,
            TransactionStateLogReplicationFactor = Positive(values.Int("transaction.state.log.replication.factor"), "transaction.state.log.replication.factor") ?? defaults.TransactionStateLogReplicationFactor,
            TransactionStateLogMinIsr = Positive(values.Int("transaction.state.log.min.isr"), "transaction.state.log.min.isr") ?? defaults.TransactionStateLogMinIsr,
            TransactionStateLogSegmentBytes = Positive(values.Int("transaction.state.log.segment.bytes"), "transaction.state.log.segment.bytes") ?? defaults.TransactionStateLogSegmentBytes,
            TransactionMaxTimeoutMs = Positive(values.Int("transaction.max.timeout.ms"), "transaction.max.timeout.ms") ?? defaults.TransactionMaxTimeoutMs,
            TransactionAbortTimedOutCleanupIntervalMs = Positive(values.Int("transaction.abort.timed.out.transaction.cleanup.interval.ms"), "transaction.abort.timed.out.transaction.cleanup.interval.ms") ?? defaults.TransactionAbortTimedOutCleanupIntervalMs,
            TransactionPartitionVerificationEnable = values.Bool("transaction.partition.verification.enable") ?? defaults.TransactionPartitionVerificationEnable,
            OffsetsRetentionCheckIntervalMs = values.Long("offsets.retention.check.interval.ms") ?? defaults.OffsetsRetentionCheckIntervalMs,
            OffsetMetadataMaxBytes = values.Int("offset.metadata.max.bytes") ?? defaults.OffsetMetadataMaxBytes,
            QuorumVoters = values.Str("controller.quorum.voters"),
            QuorumPort = values.Int("quorum.port") ?? defaults.QuorumPort,
            QuorumSecurityProtocol = values.Str("quorum.security.protocol") is { } quorumProtocol ? ParseQuorumProtocol(quorumProtocol) : defaults.QuorumSecurityProtocol,
            BrokerSessionTimeoutMs = values.Int("broker.session.timeout.ms") ?? defaults.BrokerSessionTimeoutMs,
            BrokerHeartbeatIntervalMs = values.Int("broker.heartbeat.interval.ms") ?? defaults.BrokerHeartbeatIntervalMs,
            ReplicaLagTimeMaxMs = values.Int("replica.lag.time.max.ms") ?? defaults.ReplicaLagTimeMaxMs,
            ReplicaFetchWaitMaxMs = values.Int("replica.fetch.wait.max.ms") ?? defaults.ReplicaFetchWaitMaxMs,
            LeaderImbalanceCheckIntervalSeconds = values.Int("leader.imbalance.check.interval.seconds") ?? defaults.LeaderImbalanceCheckIntervalSeconds,
            Listeners = values.Str("listeners"),
            AdvertisedListeners = values.Str("advertised.listeners"),
            ListenerSecurityProtocolMap = values.Str("listener.security.protocol.map"),
            InterBrokerListenerName = values.Str("inter.broker.listener.name"),
            ReplicaSocketTimeoutMs = values.Int("replica.socket.timeout.ms") ?? defaults.ReplicaSocketTimeoutMs,
            MaxRecordsPerUserOp = values.Int("controller.max.records.per.user.op") ?? defaults.MaxRecordsPerUserOp,
            MaxPartitionsPerTopic = values.Int("max.partitions.per.topic") ?? defaults.MaxPartitionsPerTopic,
            BrokerCapacityPartitions = Positive(values.Int("broker.capacity.partitions"), "broker.capacity.partitions") ?? defaults.BrokerCapacityPartitions,
            BrokerCapacityDiskBytes = Positive(values.Long("broker.capacity.disk.bytes"), "broker.capacity.disk.bytes"),
            BrokerCapacityBytesInPerSec = Positive(values.Long("broker.capacity.bytes.in.per.sec"), "broker.capacity.bytes.in.per.sec"),
            BrokerCapacityBytesOutPerSec = Positive(values.Long("broker.capacity.bytes.out.per.sec"), "broker.capacity.bytes.out.per.sec"),
            BrokerCapacityConnections = Positive(values.Long("broker.capacity.connections"), "broker.capacity.connections"),
            LeaderReplicationThrottledRate = Positive(values.Long("leader.replication.throttled.rate"), "leader.replication.throttled.rate"),
            SelfHealingThresholdMs = Positive(values.Long("broker.failure.self.healing.threshold.ms"), "broker.failure.self.healing.threshold.ms") ?? defaults.SelfHealingThresholdMs,
            SelfHealingMaxConcurrentReplicas = Positive(values.Int("self.healing.max.concurrent.replicas"), "self.healing.max.concurrent.replicas") ?? defaults.SelfHealingMaxConcurrentReplicas,
            HeadroomMargin = values.Double("headroom.margin") is { } margin
                ? margin is >= 0 and < 1 ? margin : throw new BrokerConfigurationException($"Setting 'headroom.margin' must be at least 0 and below 1, got {margin}.")
                : defaults.HeadroomMargin,
            SaslEnabledMechanisms = values.Str("sasl.enabled.mechanisms") ?? defaults.SaslEnabledMechanisms,
            ConnectionFailedAuthenticationDelayMs = values.Int("connection.failed.authentication.delay.ms") ?? defaults.ConnectionFailedAuthenticationDelayMs,
            ConnectionsMaxReauthMs = values.Long("connections.max.reauth.ms") ?? defaults.ConnectionsMaxReauthMs,
            SslKeystoreType = values.Str("ssl.keystore.type") ?? defaults.SslKeystoreType,
            SslKeystoreLocation = values.Str("ssl.keystore.location"),
            SslKeyPassword = values.Str("ssl.key.password") is { } password ? new SecretText(password) : null,
            SslTruststoreType = values.Str("ssl.truststore.type") ?? defaults.SslTruststoreType,
            SslTruststoreLocation = values.Str("ssl.truststore.location"),
            SslClientAuth = values.Str("ssl.client.auth") is { } clientAuth ? ParseClientAuth(clientAuth) : defaults.SslClientAuth,
            SslPrincipalMappingRules = values.Str("ssl.principal.mapping.rules"),
            SslEndpointIdentificationAlgorithm = values.Str("ssl.endpoint.identification.algorithm") ?? defaults.SslEndpointIdentificationAlgorithm,
            AuthorizerEnabled = values.Bool("authorizer.enabled") ?? defaults.AuthorizerEnabled,
            SuperUsers = ParseSuperUsers(values.Str("super.users")),
            AllowEveryoneIfNoAclFound = values.Bool("allow.everyone.if.no.acl.found") ?? defaults.AllowEveryoneIfNoAclFound,
            AdminListener = values.Str("admin.listener") is { } admin
                ? admin.Trim() is "" or "off" ? null : admin.Trim()
                : DefaultAdminListener,
            AdminToken = values.Str("admin.token") is { Length: > 0 } token ? new SecretText(token) : null,
        };
    }

    private static int AtLeast(string key, int value, int minimum) =>
        value >= minimum ? value : throw new BrokerConfigurationException($"Setting '{key}' must be at least {minimum}, got {value}.");

    private static SslClientAuth ParseClientAuth(string value) => value.Trim().ToLowerInvariant() switch
    {
        "none" => SslClientAuth.None,
        "requested" => SslClientAuth.Requested,
        "required" => SslClientAuth.Required,
        _ => throw new BrokerConfigurationException($"Setting 'ssl.client.auth' must be none, requested or required, got '{value}'."),
    };

    // Kafka's syntax: principals separated by ';', each Type:Name (User:alice).
    private static SecurityProtocol ParseQuorumProtocol(string value) => value.Trim().ToUpperInvariant() switch
    {
        "PLAINTEXT" => SecurityProtocol.Plaintext,
        "SSL" => SecurityProtocol.Ssl,
        _ => throw new BrokerConfigurationException($"Setting 'quorum.security.protocol' must be PLAINTEXT or SSL, got '{value}'."),
    };

    private static HashSet<string> ParseSuperUsers(string? text)
    {
        var users = new HashSet<string>(StringComparer.Ordinal);
        foreach (var principal in (text ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (principal.IndexOf(':', StringComparison.Ordinal) is <= 0 || principal.EndsWith(':'))
            {
                throw new BrokerConfigurationException($"Setting 'super.users' must list principals as Type:Name separated by ';' (User:alice;User:bob), got '{principal}'.");
            }

            users.Add(principal);
        }

        return users;
    }

    /// <summary>group.consumer.assignors: Kafka's names of the assignors served, each one known.</summary>
    private static List<string>? ParseAssignors(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        var unknown = names.FirstOrDefault(n => !ConsumerGroupAssignors.Names.Contains(n, StringComparer.Ordinal));
        return names.Count == 0 || unknown is not null
            ? throw new BrokerConfigurationException($"Setting 'group.consumer.assignors' must list assignors among {string.Join(", ", ConsumerGroupAssignors.Names)}, got '{text}'.")
            : names;
    }

    private static T? Positive<T>(T? value, string key)
        where T : struct, System.Numerics.INumber<T> =>
        value is { } v && v <= T.Zero ? throw new BrokerConfigurationException($"Setting '{key}' must be positive, got {v}.") : value;

    private static T ParseEnum<T>(string key, string text)
        where T : struct, Enum =>
        Enum.TryParse<T>(text.Trim(), ignoreCase: true, out var value) && Enum.IsDefined(value) && !int.TryParse(text, CultureInfo.InvariantCulture, out _)
            ? value
            : throw new BrokerConfigurationException($"Setting '{key}' must be one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}, got '{text}'.");

    private static string Normalise(string key) => key.ToLowerInvariant().Replace('_', '.').Replace('-', '.').Replace(':', '.');

    /// <summary>The configured values, recording each key read so that the keys nobody reads can be refused as unknown.</summary>
    private sealed class Settings(Dictionary<string, string> values)
    {
        private readonly HashSet<string> _known = new(StringComparer.Ordinal);

        public string? Str(string key)
        {
            _known.Add(key);
            return values.TryGetValue(key, out var value) ? value : null;
        }

        public int? Int(string key) => Parse(key, "an integer", s => int.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));

        public long? Long(string key) => Parse(key, "an integer", s => long.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));

        public bool? Bool(string key) => Parse(key, "true or false", bool.Parse);

        public double? Double(string key) => Parse(key, "a number", s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture));

        /// <summary>Refuses the first key no setting read; from the environment, only keys in a setting's namespace.</summary>
        public void RefuseUnknown(HashSet<string> fromEnvironment)
        {
            var namespaces = _known.Select(FirstWord).ToHashSet(StringComparer.Ordinal);
            foreach (var key in values.Keys.Order(StringComparer.Ordinal))
            {
                if (_known.Contains(key) || (fromEnvironment.Contains(key) && !namespaces.Contains(FirstWord(key))))
                {
                    continue;
                }

                var source = fromEnvironment.Contains(key) ? $" (environment variable LEVEE_{key.ToUpperInvariant().Replace('.', '_')})" : "";
                var near = _known.Where(k => FirstWord(k) == FirstWord(key)).Order(StringComparer.Ordinal).ToList();
                var hint = near.Count > 0 ? $"; known keys like it: {string.Join(", ", near)}" : "";
                throw new BrokerConfigurationException($"Unknown setting '{key}'{source}{hint}.");
            }
        }

        private T? Parse<T>(string key, string expected, Func<string, T> parse)
            where T : struct
        {
            if (Str(key) is not { } text)
            {
                return null;
            }

            try
            {
                return parse(text.Trim());
            }
            catch (Exception ex) when (ex is FormatException or OverflowException)
            {
                throw new BrokerConfigurationException($"Setting '{key}' must be {expected}, got '{text}'.", ex);
            }
        }

        private static string FirstWord(string key) => key.Split('.')[0];
    }
}
