namespace Levee.Broker.Groups;

/// <summary>A partition named as the consumer group protocol (KIP-848) names it: by topic id.</summary>
/// <param name="TopicId">The topic's id.</param>
/// <param name="Partition">The partition index.</param>
public readonly record struct TopicIdPartition(Guid TopicId, int Partition);

/// <summary>What an assignor knows of a member: the topics it subscribes to (by id) and its previous target assignment.</summary>
/// <param name="MemberId">The member id.</param>
/// <param name="Topics">The ids of the existing topics it subscribes to.</param>
/// <param name="Previous">Its previous target assignment.</param>
public sealed record AssignorMember(string MemberId, IReadOnlySet<Guid> Topics, IReadOnlySet<TopicIdPartition> Previous);

/// <summary>
/// The server-side assignors of the consumer group protocol (KIP-848), by Kafka's names: <c>uniform</c> (the
/// default) spreads every subscribed partition as evenly as the subscriptions allow and keeps each partition where
/// it was while that stays balanced; <c>range</c> gives each subscriber of a topic a contiguous range of its
/// partitions, members in id order, as Kafka's range assignor. Pure: the coordinator calls it with its lock held.
/// </summary>
public static class ConsumerGroupAssignors
{
    /// <summary>Kafka's default server assignor.</summary>
    public const string Uniform = "uniform";

    /// <summary>Kafka's range assignor.</summary>
    public const string Range = "range";

    /// <summary>The assignors served, in Kafka's default order of <c>group.consumer.assignors</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = [Uniform, Range];

    /// <summary>
    /// The target assignment of every member: each partition of a topic some member subscribes to goes to exactly
    /// one of its subscribers; members subscribed to nothing that exists get nothing.
    /// </summary>
    public static Dictionary<string, HashSet<TopicIdPartition>> Assign(string assignor, IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<Guid, int> partitionCounts)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(partitionCounts);
        return assignor == Range ? AssignRange(members, partitionCounts) : AssignUniform(members, partitionCounts);
    }

    private static Dictionary<string, HashSet<TopicIdPartition>> AssignRange(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<Guid, int> partitionCounts)
    {
        var result = members.ToDictionary(m => m.MemberId, _ => new HashSet<TopicIdPartition>(), StringComparer.Ordinal);
        foreach (var (topicId, count) in partitionCounts.OrderBy(t => t.Key))
        {
            var subscribers = members.Where(m => m.Topics.Contains(topicId)).Select(m => m.MemberId).Order(StringComparer.Ordinal).ToList();
            if (subscribers.Count == 0)
            {
                continue;
            }

            var quota = count / subscribers.Count;
            var extra = count % subscribers.Count;
            var next = 0;
            for (var i = 0; i < subscribers.Count; i++)
            {
                var size = quota + (i < extra ? 1 : 0);
                for (var p = next; p < next + size; p++)
                {
                    result[subscribers[i]].Add(new TopicIdPartition(topicId, p));
                }

                next += size;
            }
        }

        return result;
    }

    private static Dictionary<string, HashSet<TopicIdPartition>> AssignUniform(IReadOnlyList<AssignorMember> members, IReadOnlyDictionary<Guid, int> partitionCounts)
    {
        var result = members.ToDictionary(m => m.MemberId, _ => new HashSet<TopicIdPartition>(), StringComparer.Ordinal);
        var byId = members.ToDictionary(m => m.MemberId, StringComparer.Ordinal);
        bool Eligible(string memberId, TopicIdPartition tp) =>
            byId[memberId].Topics.Contains(tp.TopicId) && partitionCounts.TryGetValue(tp.TopicId, out var count) && tp.Partition < count;

        // 1. Each member keeps what it had that it may still have (stickiness), never a partition twice.
        var placed = new HashSet<TopicIdPartition>();
        foreach (var member in members.OrderBy(m => m.MemberId, StringComparer.Ordinal))
        {
            foreach (var tp in member.Previous.OrderBy(tp => tp.TopicId).ThenBy(tp => tp.Partition))
            {
                if (Eligible(member.MemberId, tp) && placed.Add(tp))
                {
                    result[member.MemberId].Add(tp);
                }
            }
        }

        // 2. Every other subscribed partition goes to its least loaded subscriber.
        foreach (var (topicId, count) in partitionCounts.OrderBy(t => t.Key))
        {
            var subscribers = members.Where(m => m.Topics.Contains(topicId)).Select(m => m.MemberId).ToList();
            if (subscribers.Count == 0)
            {
                continue;
            }

            for (var p = 0; p < count; p++)
            {
                var tp = new TopicIdPartition(topicId, p);
                if (placed.Add(tp))
                {
                    result[LeastLoaded(subscribers, result)].Add(tp);
                }
            }
        }

        // 3. Balance: a partition moves from a member to a subscriber holding at least two fewer, until none can.
        var moved = true;
        while (moved)
        {
            moved = false;
            foreach (var from in result.Keys.OrderByDescending(id => result[id].Count).ThenBy(id => id, StringComparer.Ordinal).ToList())
            {
                foreach (var tp in result[from].OrderByDescending(tp => tp.Partition).ThenBy(tp => tp.TopicId).ToList())
                {
                    var to = result.Keys
                        .Where(id => result[id].Count <= result[from].Count - 2 && Eligible(id, tp))
                        .OrderBy(id => result[id].Count).ThenBy(id => id, StringComparer.Ordinal)
                        .FirstOrDefault();
                    if (to is not null)
                    {
                        result[from].Remove(tp);
                        result[to].Add(tp);
                        moved = true;
                    }
                }
            }
        }

        return result;
    }

    private static string LeastLoaded(List<string> subscribers, Dictionary<string, HashSet<TopicIdPartition>> result) =>
        subscribers.OrderBy(id => result[id].Count).ThenBy(id => id, StringComparer.Ordinal).First();
}
