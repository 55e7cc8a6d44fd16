namespace Levee.Protocol;

/// <summary>
/// Kafka's protocol error codes, numbered and named as in Kafka's <c>Errors</c> enum (UPPER_SNAKE
/// turned PascalCase; <c>INVALID_TOPIC_EXCEPTION</c> is <see cref="InvalidTopic"/>). Complete through
/// Kafka 4.0 (code 129) plus the codes Kafka 4.1 added (130-133).
/// </summary>
public enum ErrorCode : short
{
    /// <summary>The server failed in a way it could not classify.</summary>
    UnknownServerError = -1,

    /// <summary>No error.</summary>
    None = 0,

    /// <summary>The requested offset is outside the partition's log.</summary>
    OffsetOutOfRange = 1,

    /// <summary>A record batch failed its CRC, has an invalid size, or is otherwise malformed.</summary>
    CorruptMessage = 2,

    /// <summary>This broker does not host the topic-partition.</summary>
    UnknownTopicOrPartition = 3,

    /// <summary>The requested fetch size is invalid.</summary>
    InvalidFetchSize = 4,

    /// <summary>The partition has no leader right now (an election is under way).</summary>
    LeaderNotAvailable = 5,

    /// <summary>This broker is not the leader (or not a replica) of the partition.</summary>
    NotLeaderOrFollower = 6,

    /// <summary>The request timed out.</summary>
    RequestTimedOut = 7,

    /// <summary>The broker is not available.</summary>
    BrokerNotAvailable = 8,

    /// <summary>The replica is not available for the partition.</summary>
    ReplicaNotAvailable = 9,

    /// <summary>A record batch is larger than the maximum the broker accepts.</summary>
    MessageTooLarge = 10,

    /// <summary>The controller moved to another broker.</summary>
    StaleControllerEpoch = 11,

    /// <summary>The committed offset metadata is too large.</summary>
    OffsetMetadataTooLarge = 12,

    /// <summary>The server disconnected before a response was received.</summary>
    NetworkException = 13,

    /// <summary>The coordinator is still loading its state.</summary>
    CoordinatorLoadInProgress = 14,

    /// <summary>The coordinator is not available.</summary>
    CoordinatorNotAvailable = 15,

    /// <summary>This broker is not the coordinator for the group or transactional id.</summary>
    NotCoordinator = 16,

    /// <summary>The topic name is invalid (Kafka's INVALID_TOPIC_EXCEPTION).</summary>
    InvalidTopic = 17,

    /// <summary>The produced records are larger than the configured segment size.</summary>
    RecordListTooLarge = 18,

    /// <summary>Fewer in-sync replicas than min.insync.replicas; the records were not written.</summary>
    NotEnoughReplicas = 19,

    /// <summary>The records were written, but to fewer in-sync replicas than required.</summary>
    NotEnoughReplicasAfterAppend = 20,

    /// <summary>The produce request has an invalid acks value.</summary>
    InvalidRequiredAcks = 21,

    /// <summary>The group generation id is not valid.</summary>
    IllegalGeneration = 22,

    /// <summary>The member's protocols are incompatible with the group's.</summary>
    InconsistentGroupProtocol = 23,

    /// <summary>The group id is invalid.</summary>
    InvalidGroupId = 24,

    /// <summary>The coordinator does not know this member.</summary>
    UnknownMemberId = 25,

    /// <summary>The session timeout is outside the broker's allowed range.</summary>
    InvalidSessionTimeout = 26,

    /// <summary>The group is rebalancing; the member must rejoin.</summary>
    RebalanceInProgress = 27,

    /// <summary>The offset commit data size is not valid.</summary>
    InvalidCommitOffsetSize = 28,

    /// <summary>The principal may not access the topic.</summary>
    TopicAuthorizationFailed = 29,

    /// <summary>The principal may not access the group.</summary>
    GroupAuthorizationFailed = 30,

    /// <summary>The principal may not perform this cluster operation.</summary>
    ClusterAuthorizationFailed = 31,

    /// <summary>A record timestamp is outside the acceptable range.</summary>
    InvalidTimestamp = 32,

    /// <summary>The broker does not support the requested SASL mechanism.</summary>
    UnsupportedSaslMechanism = 33,

    /// <summary>The request is not valid in the current SASL state.</summary>
    IllegalSaslState = 34,

    /// <summary>The API version is not supported.</summary>
    UnsupportedVersion = 35,

    /// <summary>A topic with this name already exists.</summary>
    TopicAlreadyExists = 36,

    /// <summary>The number of partitions is invalid.</summary>
    InvalidPartitions = 37,

    /// <summary>The replication factor is invalid.</summary>
    InvalidReplicationFactor = 38,

    /// <summary>The replica assignment is invalid.</summary>
    InvalidReplicaAssignment = 39,

    /// <summary>The configuration is invalid.</summary>
    InvalidConfig = 40,

    /// <summary>This broker is not the active controller.</summary>
    NotController = 41,

    /// <summary>The request is malformed or not valid for this broker.</summary>
    InvalidRequest = 42,

    /// <summary>The message format version does not support the request.</summary>
    UnsupportedForMessageFormat = 43,

    /// <summary>The request violates a configured policy.</summary>
    PolicyViolation = 44,

    /// <summary>The broker received an out-of-order sequence number.</summary>
    OutOfOrderSequenceNumber = 45,

    /// <summary>The broker received a duplicate sequence number.</summary>
    DuplicateSequenceNumber = 46,

    /// <summary>The producer used an old epoch.</summary>
    InvalidProducerEpoch = 47,

    /// <summary>The transactional operation is not valid in the transaction's state.</summary>
    InvalidTxnState = 48,

    /// <summary>The producer id is not assigned to this transactional id.</summary>
    InvalidProducerIdMapping = 49,

    /// <summary>The transaction timeout exceeds transaction.max.timeout.ms.</summary>
    InvalidTransactionTimeout = 50,

    /// <summary>Another operation on the same transaction is in progress.</summary>
    ConcurrentTransactions = 51,

    /// <summary>The transaction coordinator sending markers is no longer current.</summary>
    TransactionCoordinatorFenced = 52,

    /// <summary>The principal may not use the transactional id.</summary>
    TransactionalIdAuthorizationFailed = 53,

    /// <summary>Security features are disabled.</summary>
    SecurityDisabled = 54,

    /// <summary>The broker did not attempt this operation of a batched request.</summary>
    OperationNotAttempted = 55,

    /// <summary>A disk error occurred while accessing the log.</summary>
    KafkaStorageError = 56,

    /// <summary>The log directory is not in the broker's configuration.</summary>
    LogDirNotFound = 57,

    /// <summary>SASL authentication failed.</summary>
    SaslAuthenticationFailed = 58,

    /// <summary>The broker has no state for the producer id.</summary>
    UnknownProducerId = 59,

    /// <summary>A partition reassignment is in progress.</summary>
    ReassignmentInProgress = 60,

    /// <summary>Delegation tokens are not enabled.</summary>
    DelegationTokenAuthDisabled = 61,

    /// <summary>The delegation token was not found.</summary>
    DelegationTokenNotFound = 62,

    /// <summary>The principal is not the token's owner or renewer.</summary>
    DelegationTokenOwnerMismatch = 63,

    /// <summary>Delegation token requests are not allowed on this channel.</summary>
    DelegationTokenRequestNotAllowed = 64,

    /// <summary>Delegation token authorization failed.</summary>
    DelegationTokenAuthorizationFailed = 65,

    /// <summary>The delegation token has expired.</summary>
    DelegationTokenExpired = 66,

    /// <summary>The principal type is not supported.</summary>
    InvalidPrincipalType = 67,

    /// <summary>The group is not empty.</summary>
    NonEmptyGroup = 68,

    /// <summary>The group id does not exist.</summary>
    GroupIdNotFound = 69,

    /// <summary>The fetch session id was not found.</summary>
    FetchSessionIdNotFound = 70,

    /// <summary>The fetch session epoch is invalid.</summary>
    InvalidFetchSessionEpoch = 71,

    /// <summary>The leader has no listener matching the one the request arrived on.</summary>
    ListenerNotFound = 72,

    /// <summary>Topic deletion is disabled.</summary>
    TopicDeletionDisabled = 73,

    /// <summary>The request's leader epoch is older than the broker's.</summary>
    FencedLeaderEpoch = 74,

    /// <summary>The request's leader epoch is newer than the broker's.</summary>
    UnknownLeaderEpoch = 75,

    /// <summary>The compression type is not supported.</summary>
    UnsupportedCompressionType = 76,

    /// <summary>The broker epoch has changed.</summary>
    StaleBrokerEpoch = 77,

    /// <summary>The leader's high watermark has not caught up after an election.</summary>
    OffsetNotAvailable = 78,

    /// <summary>The member must obtain a member id before joining.</summary>
    MemberIdRequired = 79,

    /// <summary>The preferred leader is not available.</summary>
    PreferredLeaderNotAvailable = 80,

    /// <summary>The group has reached its maximum size.</summary>
    GroupMaxSizeReached = 81,

    /// <summary>Another member registered the same group.instance.id.</summary>
    FencedInstanceId = 82,

    /// <summary>No eligible leaders are available for the partition.</summary>
    EligibleLeadersNotAvailable = 83,

    /// <summary>The partition does not need a leader election.</summary>
    ElectionNotNeeded = 84,

    /// <summary>No partition reassignment is in progress.</summary>
    NoReassignmentInProgress = 85,

    /// <summary>The group is subscribed to the topic whose offsets are being deleted.</summary>
    GroupSubscribedToTopic = 86,

    /// <summary>A record failed the broker's validation.</summary>
    InvalidRecord = 87,

    /// <summary>There are pending transactional offsets to resolve first.</summary>
    UnstableOffsetCommit = 88,

    /// <summary>The throttling quota has been exceeded.</summary>
    ThrottlingQuotaExceeded = 89,

    /// <summary>A newer producer with the same transactional id fenced this one.</summary>
    ProducerFenced = 90,

    /// <summary>The request refers to a resource that does not exist.</summary>
    ResourceNotFound = 91,

    /// <summary>The request refers to the same resource twice.</summary>
    DuplicateResource = 92,

    /// <summary>The credential does not meet the acceptability criteria.</summary>
    UnacceptableCredential = 93,

    /// <summary>The sender or receiver is not one of the expected voters.</summary>
    InconsistentVoterSet = 94,

    /// <summary>The update version is invalid.</summary>
    InvalidUpdateVersion = 95,

    /// <summary>Finalized features could not be updated.</summary>
    FeatureUpdateFailed = 96,

    /// <summary>The forwarded principal could not be deserialized.</summary>
    PrincipalDeserializationFailure = 97,

    /// <summary>The requested snapshot was not found.</summary>
    SnapshotNotFound = 98,

    /// <summary>The snapshot position is out of range.</summary>
    PositionOutOfRange = 99,

    /// <summary>This broker does not host the topic id.</summary>
    UnknownTopicId = 100,

    /// <summary>The broker id is already in use.</summary>
    DuplicateBrokerRegistration = 101,

    /// <summary>The broker id is not registered.</summary>
    BrokerIdNotRegistered = 102,

    /// <summary>The topic id does not match the one in the log.</summary>
    InconsistentTopicId = 103,

    /// <summary>The cluster id does not match.</summary>
    InconsistentClusterId = 104,

    /// <summary>The transactional id was not found.</summary>
    TransactionalIdNotFound = 105,

    /// <summary>The fetch session has a topic id mismatch.</summary>
    FetchSessionTopicIdError = 106,

    /// <summary>The new ISR contains at least one ineligible replica.</summary>
    IneligibleReplica = 107,

    /// <summary>A new leader was elected while the AlterPartition request was in flight.</summary>
    NewLeaderElected = 108,

    /// <summary>The offset has moved to tiered storage.</summary>
    OffsetMovedToTieredStorage = 109,

    /// <summary>The member epoch is fenced by the group coordinator.</summary>
    FencedMemberEpoch = 110,

    /// <summary>The group.instance.id is still in use by another member.</summary>
    UnreleasedInstanceId = 111,

    /// <summary>The group does not support the requested assignor.</summary>
    UnsupportedAssignor = 112,

    /// <summary>The member epoch is stale.</summary>
    StaleMemberEpoch = 113,

    /// <summary>The request was sent to an endpoint of the wrong type.</summary>
    MismatchedEndpointType = 114,

    /// <summary>This endpoint type does not support the request.</summary>
    UnsupportedEndpointType = 115,

    /// <summary>The controller id is unknown.</summary>
    UnknownControllerId = 116,

    /// <summary>The client telemetry subscription id is unknown.</summary>
    UnknownSubscriptionId = 117,

    /// <summary>The client telemetry payload is too large.</summary>
    TelemetryTooLarge = 118,

    /// <summary>The controller considered the broker registration invalid.</summary>
    InvalidRegistration = 119,

    /// <summary>The transaction failed; the client can abort it and continue.</summary>
    TransactionAbortable = 120,

    /// <summary>The record state is invalid; the acknowledgement could not be completed.</summary>
    InvalidRecordState = 121,

    /// <summary>The share session was not found.</summary>
    ShareSessionNotFound = 122,

    /// <summary>The share session epoch is invalid.</summary>
    InvalidShareSessionEpoch = 123,

    /// <summary>The share-group state epoch did not match.</summary>
    FencedStateEpoch = 124,

    /// <summary>The voter key does not match the receiving replica's key.</summary>
    InvalidVoterKey = 125,

    /// <summary>The voter is already in the voter set.</summary>
    DuplicateVoter = 126,

    /// <summary>The voter is not in the voter set.</summary>
    VoterNotFound = 127,

    /// <summary>The regular expression is not valid.</summary>
    InvalidRegularExpression = 128,

    /// <summary>The client's metadata is stale; it should rebootstrap.</summary>
    RebootstrapRequired = 129,

    /// <summary>The Streams topology is invalid (Kafka 4.1).</summary>
    StreamsInvalidTopology = 130,

    /// <summary>The Streams topology epoch is invalid (Kafka 4.1).</summary>
    StreamsInvalidTopologyEpoch = 131,

    /// <summary>The Streams topology epoch is outdated (Kafka 4.1).</summary>
    StreamsTopologyFenced = 132,

    /// <summary>The limit of share sessions has been reached (Kafka 4.1).</summary>
    ShareSessionLimitReached = 133,
}

/// <summary>Facts about <see cref="ErrorCode"/> values.</summary>
public static class ErrorCodes
{
    /// <summary>
    /// True when Kafka marks the error retriable (its exception derives from RetriableException):
    /// a client may retry the same request and expect it to succeed eventually.
    /// </summary>
    public static bool IsRetriable(ErrorCode code) => code switch
    {
        ErrorCode.CorruptMessage
            or ErrorCode.UnknownTopicOrPartition
            or ErrorCode.LeaderNotAvailable
            or ErrorCode.NotLeaderOrFollower
            or ErrorCode.RequestTimedOut
            or ErrorCode.ReplicaNotAvailable
            or ErrorCode.NetworkException
            or ErrorCode.CoordinatorLoadInProgress
            or ErrorCode.CoordinatorNotAvailable
            or ErrorCode.NotCoordinator
            or ErrorCode.NotEnoughReplicas
            or ErrorCode.NotEnoughReplicasAfterAppend
            or ErrorCode.NotController
            or ErrorCode.ConcurrentTransactions
            or ErrorCode.KafkaStorageError
            or ErrorCode.FetchSessionIdNotFound
            or ErrorCode.InvalidFetchSessionEpoch
            or ErrorCode.ListenerNotFound
            or ErrorCode.FencedLeaderEpoch
            or ErrorCode.UnknownLeaderEpoch
            or ErrorCode.OffsetNotAvailable
            or ErrorCode.PreferredLeaderNotAvailable
            or ErrorCode.EligibleLeadersNotAvailable
            or ErrorCode.ElectionNotNeeded
            or ErrorCode.UnstableOffsetCommit
            or ErrorCode.ThrottlingQuotaExceeded
            or ErrorCode.UnknownTopicId
            or ErrorCode.InconsistentTopicId
            or ErrorCode.FetchSessionTopicIdError
            or ErrorCode.ShareSessionNotFound
            or ErrorCode.InvalidShareSessionEpoch
            or ErrorCode.ShareSessionLimitReached => true,
        _ => false,
    };
}
