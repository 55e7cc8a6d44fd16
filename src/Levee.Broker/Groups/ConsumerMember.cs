using System.Text.RegularExpressions;

namespace Levee.Broker.Groups;

/// <summary>Where a member of a consumer group (KIP-848) stands in reaching its target assignment, by Kafka's names.</summary>
internal enum ConsumerMemberState
{
    /// <summary>The member has its target assignment, or all of it that could be given.</summary>
    Stable,

    /// <summary>The member must give up partitions first: it keeps its epoch until it says it no longer owns them.</summary>
    UnrevokedPartitions,

    /// <summary>The member is at the target epoch but waits for partitions other members have not released yet.</summary>
    UnreleasedPartitions,
}

/// <summary>One member of a consumer group (KIP-848). Guarded by its group's lock.</summary>
internal sealed class ConsumerMember(string memberId)
{
    public string MemberId { get; } = memberId;

    public string? InstanceId { get; set; }

    public string? RackId { get; set; }

    public string ClientId { get; set; } = "";

    public string ClientHost { get; set; } = "";

    public int RebalanceTimeoutMs { get; set; }

    /// <summary>The topic names subscribed to (stored names).</summary>
    public IReadOnlyList<string> SubscribedTopicNames { get; set; } = [];

    /// <summary>The regular expression subscribed to, as the client sent it (null when none).</summary>
    public string? SubscribedTopicRegex { get; set; }

    /// <summary>The compiled <see cref="SubscribedTopicRegex"/>, matched against the names the client sees.</summary>
    public Regex? TopicRegex { get; set; }

    /// <summary>The tenant prefix of the names the member sees ("" for none): a regex matches only topics under it.</summary>
    public string NamePrefix { get; set; } = "";

    /// <summary>The server assignor the member asked for, or null.</summary>
    public string? ServerAssignor { get; set; }

    public int Epoch { get; set; }

    public int PreviousEpoch { get; set; } = -1;

    public ConsumerMemberState State { get; set; }

    /// <summary>The partitions the member may consume now.</summary>
    public HashSet<TopicIdPartition> Assigned { get; set; } = [];

    /// <summary>The partitions the member must give up before it moves to the target epoch.</summary>
    public HashSet<TopicIdPartition> PendingRevocation { get; set; } = [];

    /// <summary>When the member is removed unless it heartbeats (group.consumer.session.timeout.ms).</summary>
    public long SessionDeadlineMs { get; set; }

    /// <summary>When a member asked to revoke partitions is removed unless it has (its rebalance timeout); MaxValue when none is asked.</summary>
    public long RevocationDeadlineMs { get; set; } = long.MaxValue;

    /// <summary>Whether the member subscribes to <paramref name="storedTopic"/> (by name or by its regular expression).</summary>
    public bool SubscribesTo(string storedTopic) =>
        SubscribedTopicNames.Contains(storedTopic, StringComparer.Ordinal)
        || (TopicRegex is not null && storedTopic.StartsWith(NamePrefix, StringComparison.Ordinal) && !storedTopic.StartsWith("__", StringComparison.Ordinal)
            && TopicRegex.IsMatch(storedTopic[NamePrefix.Length..]));
}

/// <summary>
/// How a member moves towards its target assignment (KIP-848's reconciliation, as Kafka's CurrentAssignmentBuilder
/// decides it): partitions to give up are revoked first while the member keeps its epoch; once it no longer owns
/// them it moves to the target epoch and gets the target's partitions that no other member still holds; those
/// still held are given at a later heartbeat, once released. Pure apart from the member it updates.
/// </summary>
internal static class ConsumerReconciliation
{
    /// <summary>
    /// Advances <paramref name="member"/> given the target assignment <paramref name="target"/> of epoch
    /// <paramref name="targetEpoch"/>, the partitions the member says it owns (<paramref name="owned"/>, null when
    /// it did not say) and <paramref name="heldByOther"/>, whether another member still holds a partition.
    /// </summary>
    public static void Advance(ConsumerMember member, IReadOnlySet<TopicIdPartition> target, int targetEpoch, IReadOnlyCollection<TopicIdPartition>? owned, Func<TopicIdPartition, bool> heldByOther)
    {
        ArgumentNullException.ThrowIfNull(member);
        switch (member.State)
        {
            case ConsumerMemberState.Stable when member.Epoch != targetEpoch:
            case ConsumerMemberState.UnreleasedPartitions:
                ComputeNext(member, target, targetEpoch, owned, heldByOther);
                break;
            case ConsumerMemberState.UnrevokedPartitions when owned is not null && !owned.Any(member.PendingRevocation.Contains):
                ComputeNext(member, target, targetEpoch, owned, heldByOther);
                break;
            default:
                break;
        }
    }

    private static void ComputeNext(ConsumerMember member, IReadOnlySet<TopicIdPartition> target, int targetEpoch, IReadOnlyCollection<TopicIdPartition>? owned, Func<TopicIdPartition, bool> heldByOther)
    {
        var kept = member.Assigned.Where(target.Contains).ToHashSet();
        var revoke = member.Assigned.Where(tp => !target.Contains(tp)).ToHashSet();
        if (revoke.Count > 0 && (owned is null || owned.Any(revoke.Contains)))
        {
            member.Assigned = kept;
            member.PendingRevocation = revoke;
            member.State = ConsumerMemberState.UnrevokedPartitions;
            return;
        }

        var unreleased = false;
        foreach (var tp in target)
        {
            if (kept.Contains(tp))
            {
                continue;
            }

            // A partition this member itself is giving up is not held by another.
            if (heldByOther(tp) && !member.PendingRevocation.Contains(tp))
            {
                unreleased = true;
                continue;
            }

            kept.Add(tp);
        }

        member.Assigned = kept;
        member.PendingRevocation = [];
        member.RevocationDeadlineMs = long.MaxValue;
        if (member.Epoch != targetEpoch)
        {
            member.PreviousEpoch = member.Epoch;
            member.Epoch = targetEpoch;
        }

        member.State = unreleased ? ConsumerMemberState.UnreleasedPartitions : ConsumerMemberState.Stable;
    }
}
