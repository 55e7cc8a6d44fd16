using CsCheck;
using Levee.Broker.Groups;

namespace Levee.Broker.Tests.Groups;

/// <summary>The server assignors of the consumer group protocol (<see cref="ConsumerGroupAssignors"/>), over random groups.</summary>
public sealed class ConsumerGroupAssignorTests
{
    private static readonly Guid[] TopicIds = [.. Enumerable.Range(1, 4).Select(i => new Guid(i, 0, 0, new byte[8]))];

    /// <summary>Random groups: 1-6 members each subscribed to a subset of 4 topics of 0-12 partitions, with random previous targets.</summary>
    private static readonly Gen<(List<AssignorMember> Members, Dictionary<Guid, int> Counts)> Groups =
        Gen.Select(Gen.Int[0, 12].Array[TopicIds.Length], Gen.Int[1, 6]).SelectMany((counts, size) =>
            Gen.Select(Gen.Int[1, (1 << TopicIds.Length) - 1], Gen.Int[0, 20].Array[0, 6]).List[size].Select(specs =>
            {
                var partitionCounts = TopicIds.Select((id, i) => (id, counts[i])).ToDictionary(t => t.id, t => t.Item2);
                var members = specs.Select((spec, m) =>
                {
                    var topics = TopicIds.Where((_, i) => (spec.Item1 & (1 << i)) != 0).ToHashSet();
                    var previous = spec.Item2.Select(x => new TopicIdPartition(TopicIds[x % TopicIds.Length], x % 13)).ToHashSet();
                    return new AssignorMember($"m{m}", topics, previous);
                }).ToList();
                return (members, partitionCounts);
            }));

    [Theory]
    [InlineData(ConsumerGroupAssignors.Uniform)]
    [InlineData(ConsumerGroupAssignors.Range)]
    public void EverySubscribedPartition_GoesToExactlyOneOfItsSubscribers(string assignor)
    {
        Groups.Sample(g =>
        {
            var result = ConsumerGroupAssignors.Assign(assignor, g.Members, g.Counts);
            var subscribed = g.Counts.Where(t => g.Members.Any(m => m.Topics.Contains(t.Key)))
                .SelectMany(t => Enumerable.Range(0, t.Value).Select(p => new TopicIdPartition(t.Key, p)))
                .ToHashSet();
            var assigned = result.Values.SelectMany(s => s).ToList();
            Assert.Equal(assigned.Count, assigned.Distinct().Count());
            Assert.True(subscribed.SetEquals(assigned));
            Assert.All(g.Members, m => Assert.All(result[m.MemberId], tp => Assert.Contains(tp.TopicId, m.Topics)));
        }, iter: 300);
    }

    [Fact]
    public void Uniform_WithOneSubscription_IsBalancedWithinOne_AndKeepsABalancedAssignment()
    {
        Groups.Sample(g =>
        {
            var same = g.Members.Select(m => m with { Topics = g.Members[0].Topics }).ToList();
            var result = ConsumerGroupAssignors.Assign(ConsumerGroupAssignors.Uniform, same, g.Counts);
            var sizes = result.Values.Select(s => s.Count).ToList();
            Assert.True(sizes.Max() - sizes.Min() <= 1, string.Join(",", sizes));

            // Assigning again from that result moves nothing.
            var again = ConsumerGroupAssignors.Assign(ConsumerGroupAssignors.Uniform, [.. same.Select(m => m with { Previous = result[m.MemberId] })], g.Counts);
            Assert.All(same, m => Assert.True(result[m.MemberId].SetEquals(again[m.MemberId])));
        }, iter: 300);
    }
}
