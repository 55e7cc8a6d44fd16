namespace Levee.Broker.Groups;

/// <summary>
/// The consumer group protocol's (KIP-848) part of a group: its members, the group epoch (bumped by every change
/// of membership, subscriptions or subscribed topics' partitions), and the target assignment the server assignor
/// computed for the assignment epoch. Guarded by the group's lock. Written to __consumer_offsets as Kafka's
/// ConsumerGroup* records (<see cref="ConsumerGroupRecords"/>), from which a new coordinator restores it.
/// </summary>
internal sealed class ConsumerGroupData
{
    public Dictionary<string, ConsumerMember> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>group.instance.id to member id, for static members.</summary>
    public Dictionary<string, string> StaticMembers { get; } = new(StringComparer.Ordinal);

    public int GroupEpoch { get; set; }

    public int AssignmentEpoch { get; set; }

    /// <summary>The assignor of the target assignment.</summary>
    public string AssignorName { get; set; } = ConsumerGroupAssignors.Uniform;

    /// <summary>The target assignment of each member, for <see cref="AssignmentEpoch"/>.</summary>
    public Dictionary<string, HashSet<TopicIdPartition>> TargetAssignment { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The subscribed topics (id and partition count) the target assignment was computed from.</summary>
    public Dictionary<Guid, int> SubscribedPartitions { get; set; } = [];

    /// <summary>The target of <paramref name="memberId"/> (empty when it has none).</summary>
    public IReadOnlySet<TopicIdPartition> TargetOf(string memberId) =>
        TargetAssignment.TryGetValue(memberId, out var target) ? target : new HashSet<TopicIdPartition>();

    /// <summary>Whether a member other than <paramref name="memberId"/> holds <paramref name="partition"/> (assigned, or not yet revoked).</summary>
    public bool HeldByOther(string memberId, TopicIdPartition partition) =>
        Members.Values.Any(m => m.MemberId != memberId && (m.Assigned.Contains(partition) || m.PendingRevocation.Contains(partition)));

    /// <summary>Kafka's state of a consumer group: Empty, Assigning (a target not yet computed), Reconciling or Stable.</summary>
    public string StateName =>
        Members.Count == 0 ? "Empty"
        : AssignmentEpoch != GroupEpoch ? "Assigning"
        : Members.Values.Any(m => m.Epoch != AssignmentEpoch || m.State != ConsumerMemberState.Stable) ? "Reconciling"
        : "Stable";
}
