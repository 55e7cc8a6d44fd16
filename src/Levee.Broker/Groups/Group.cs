using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Storage;

namespace Levee.Broker.Groups;

/// <summary>A committed offset as stored in __consumer_offsets (OffsetCommitValue).</summary>
internal sealed record CommittedOffset(long Offset, int LeaderEpoch, string Metadata, long CommitTimestampMs, long? ExpireTimestampMs)
{
    /// <summary>
    /// The base offset of the __consumer_offsets batch that holds this commit (-1 until written): when a transaction
    /// commits, its offset replaces a committed one only if it was written later in the log, as Kafka orders them.
    /// </summary>
    public long RecordOffset { get; init; } = -1;

    /// <summary>Whether this commit was written to the log before <paramref name="other"/> (Kafka's olderThan).</summary>
    public bool IsOlderThan(CommittedOffset other) => RecordOffset < other.RecordOffset;
}

/// <summary>
/// One classic group: membership, generation, the join and sync phases, and its committed offsets. Every field
/// is guarded by <see cref="Sync"/>; the coordinator takes it for each request and each timer tick.
/// </summary>
internal sealed class Group
{
    private long _writtenEnd;

    public Group(string groupId, OwnedPartition owner, long nowMs)
    {
        GroupId = groupId;
        Owner = owner;
        StateTimestampMs = nowMs;
    }

    public Lock Sync { get; } = new();

    public string GroupId { get; }

    /// <summary>The __consumer_offsets partition that holds this group's records.</summary>
    public int OffsetsPartition => Owner.Partition;

    /// <summary>The led partition (and leader epoch) this group was loaded or created under.</summary>
    public OwnedPartition Owner { get; }

    /// <summary>
    /// One past the last __consumer_offsets offset holding this group's state (its last append, or the log end
    /// when it was loaded): answers that depend on that state wait until the high watermark reaches it.
    /// </summary>
    public long WrittenEnd
    {
        get => Volatile.Read(ref _writtenEnd);
        set => Volatile.Write(ref _writtenEnd, value);
    }

    public GroupState State { get; private set; } = GroupState.Empty;

    /// <summary>When the group entered its current state (GroupMetadataValue.currentStateTimestamp).</summary>
    public long StateTimestampMs { get; private set; }

    public int GenerationId { get; set; }

    /// <summary>The protocol type (e.g. "consumer") set by the first member; null for groups that only store offsets.</summary>
    public string? ProtocolType { get; set; }

    /// <summary>The protocol chosen for the current generation.</summary>
    public string? ProtocolName { get; set; }

    public string? LeaderId { get; set; }

    /// <summary>Members in join order (the order leader election falls back to).</summary>
    public List<Member> Members { get; } = [];

    /// <summary>group.instance.id to member id, for static members.</summary>
    public Dictionary<string, string> StaticMembers { get; } = new(StringComparer.Ordinal);

    /// <summary>Member ids handed out with MEMBER_ID_REQUIRED (JoinGroup v4+) and the time they expire if unused.</summary>
    public Dictionary<string, long> PendingMembers { get; } = new(StringComparer.Ordinal);

    /// <summary>Members that got their JoinGroup response but have not sent SyncGroup yet.</summary>
    public HashSet<string> PendingSyncMembers { get; } = new(StringComparer.Ordinal);

    /// <summary>Committed offsets.</summary>
    public Dictionary<TopicPartition, CommittedOffset> Offsets { get; } = [];

    /// <summary>
    /// Transactional offsets (TxnOffsetCommit) written to the log but not yet committed or aborted, by producer id:
    /// invisible to OffsetFetch until the producer's COMMIT marker, dropped at its ABORT marker (KIP-98).
    /// </summary>
    public Dictionary<long, Dictionary<TopicPartition, CommittedOffset>> PendingTransactionalOffsets { get; } = [];

    /// <summary>Whether some open transaction holds an offset of <paramref name="partition"/> (OffsetFetch require_stable, KIP-447).</summary>
    public bool HasPendingTransactionalOffset(TopicPartition partition) =>
        PendingTransactionalOffsets.Values.Any(pending => pending.ContainsKey(partition));

    /// <summary>Committed offsets or offsets of an open transaction: a group with either is not removed as empty.</summary>
    public bool HasOffsets => Offsets.Count > 0 || PendingTransactionalOffsets.Count > 0;

    /// <summary>
    /// The producer's transaction ended: on commit its offsets replace the committed ones they were written after
    /// (a commit written later in the log stays, as Kafka decides by log order); on abort they are dropped. False when
    /// the producer had no offsets pending in this group.
    /// </summary>
    public bool CompletePendingTransaction(long producerId, bool commit)
    {
        if (!PendingTransactionalOffsets.Remove(producerId, out var pending))
        {
            return false;
        }

        if (commit)
        {
            ApplyCommittedTransaction(Offsets, pending);
        }

        return true;
    }

    /// <summary>
    /// A committed transaction's offsets become the committed ones, except where a commit written later in the log
    /// holds the partition (Kafka orders commits by their place in the log, not by when the transaction ended).
    /// </summary>
    public static void ApplyCommittedTransaction(Dictionary<TopicPartition, CommittedOffset> committed, Dictionary<TopicPartition, CommittedOffset> transaction)
    {
        foreach (var (partition, offset) in transaction)
        {
            if (!committed.TryGetValue(partition, out var current) || current.IsOlderThan(offset))
            {
                committed[partition] = offset;
            }
        }
    }

    /// <summary>Forgets the offsets of <paramref name="partition"/>, committed and pending, as Kafka's removeOffsets does.</summary>
    public void RemoveOffsets(TopicPartition partition)
    {
        Offsets.Remove(partition);
        foreach (var (producerId, pending) in PendingTransactionalOffsets.ToList())
        {
            if (pending.Remove(partition) && pending.Count == 0)
            {
                PendingTransactionalOffsets.Remove(producerId);
            }
        }
    }

    /// <summary>When the current join phase ends at the latest (rebalance timeout or initial delay); MaxValue when none runs.</summary>
    public long JoinDeadlineMs { get; set; } = long.MaxValue;

    /// <summary>True while the join phase is the initial delayed join of an empty group (it never ends early).</summary>
    public bool InInitialDelay { get; set; }

    /// <summary>Time left to extend the initial delay by when more members arrive.</summary>
    public long InitialDelayRemainingMs { get; set; }

    /// <summary>A member joined during the initial delay: extend it once more.</summary>
    public bool NewMemberAdded { get; set; }

    /// <summary>When members that have not sent SyncGroup are removed; MaxValue when none is pending.</summary>
    public long SyncDeadlineMs { get; set; } = long.MaxValue;

    /// <summary>The consumer group protocol's (KIP-848) state, when the group uses it; null for a classic group.</summary>
    public ConsumerGroupData? Consumer { get; set; }

    /// <summary>The group's type as ListGroups reports it: "consumer" (KIP-848) or "classic".</summary>
    public string GroupType => Consumer is null ? "classic" : "consumer";

    /// <summary>The state name Kafka reports: a consumer group's own states (Empty, Assigning, Reconciling, Stable), else the classic one.</summary>
    public string StateName => Consumer is { } consumer && State != GroupState.Dead ? consumer.StateName : State.ToString();

    /// <summary>How many members the group has, of either protocol.</summary>
    public int MemberCount => Consumer?.Members.Count ?? Members.Count;

    /// <summary>Topics the members subscribe to (parsed from the consumer protocol), or null when unknown.</summary>
    public HashSet<string>? SubscribedTopics { get; set; }

    public int RebalanceTimeoutMs => Members.Count == 0 ? 0 : Members.Max(m => m.RebalanceTimeoutMs);

    public bool IsEmptyOfMembers => Members.Count == 0;

    public void TransitionTo(GroupState state, long nowMs)
    {
        State = state;
        StateTimestampMs = nowMs;
    }

    public Member? Get(string memberId)
    {
        foreach (var member in Members)
        {
            if (member.MemberId == memberId)
            {
                return member;
            }
        }

        return null;
    }

    public bool Has(string memberId) => Get(memberId) is not null;

    public bool IsLeader(string memberId) => LeaderId == memberId;

    public void Add(Member member)
    {
        if (Members.Count == 0)
        {
            ProtocolType = member.ProtocolType;
        }

        LeaderId ??= member.MemberId;
        Members.Add(member);
        if (member.GroupInstanceId is not null)
        {
            StaticMembers[member.GroupInstanceId] = member.MemberId;
        }

        PendingMembers.Remove(member.MemberId);
    }

    /// <summary>Removes a member; a leaving leader is replaced by the next member in join order.</summary>
    public void Remove(string memberId)
    {
        var member = Get(memberId);
        if (member is not null)
        {
            Members.Remove(member);
            if (member.GroupInstanceId is not null && StaticMembers.TryGetValue(member.GroupInstanceId, out var id) && id == memberId)
            {
                StaticMembers.Remove(member.GroupInstanceId);
            }
        }

        if (LeaderId == memberId)
        {
            LeaderId = Members.Count > 0 ? Members[0].MemberId : null;
        }

        PendingMembers.Remove(memberId);
        PendingSyncMembers.Remove(memberId);
    }

    /// <summary>Kafka's rule: an empty group takes any non-empty protocol list; otherwise the type must match and one protocol must be supported by every member.</summary>
    public bool SupportsProtocols(string protocolType, List<(string Name, byte[] Metadata)> protocols)
    {
        if (State == GroupState.Empty)
        {
            return protocolType.Length > 0 && protocols.Count > 0;
        }

        if (ProtocolType != protocolType)
        {
            return false;
        }

        foreach (var (name, _) in protocols)
        {
            if (Members.All(m => m.Protocols.Exists(p => p.Name == name)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The protocol for the next generation: among the protocols every member supports, the one most members
    /// list first (each member votes for its most preferred candidate), as Kafka's GroupMetadata.selectProtocol.
    /// Ties go to the candidate preferred earliest by the first member.
    /// </summary>
    public string SelectProtocol()
    {
        var candidates = new HashSet<string>(Members[0].Protocols.Select(p => p.Name), StringComparer.Ordinal);
        foreach (var member in Members.Skip(1))
        {
            candidates.IntersectWith(member.Protocols.Select(p => p.Name));
        }

        var votes = Members.Select(m => m.Vote(candidates)).GroupBy(v => v, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var best = votes.Values.Max();
        return Members[0].Protocols.Select(p => p.Name).First(name => votes.TryGetValue(name, out var n) && n == best);
    }

    /// <summary>True when every member has a JoinGroup in flight and no MEMBER_ID_REQUIRED id is outstanding.</summary>
    public bool HasAllMembersJoined => Members.All(m => m.IsAwaitingJoin) && PendingMembers.Count == 0;

    /// <summary>Recomputes <see cref="SubscribedTopics"/> from the members' consumer-protocol subscriptions.</summary>
    public void ComputeSubscribedTopics()
    {
        if (ProtocolType != "consumer" || ProtocolName is null)
        {
            SubscribedTopics = null;
            return;
        }

        var topics = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in Members)
        {
            var metadata = member.MetadataFor(ProtocolName);
            try
            {
                var reader = new KafkaReader(metadata);
                var version = reader.ReadInt16();
                var subscription = ConsumerProtocolSubscription.Read(ref reader, Math.Min(version, ConsumerProtocolSubscription.HighestVersion));
                topics.UnionWith(subscription.Topics);
            }
            catch (KafkaProtocolException)
            {
                SubscribedTopics = null;
                return;
            }
        }

        SubscribedTopics = topics;
    }

    /// <summary>Whether offsets of <paramref name="topic"/> are in use; unknown subscriptions count as in use, as in Kafka.</summary>
    public bool IsSubscribedTo(string topic) =>
        Consumer is { } consumer ? consumer.Members.Values.Any(m => m.SubscribesTo(topic)) : SubscribedTopics?.Contains(topic) ?? true;
}
