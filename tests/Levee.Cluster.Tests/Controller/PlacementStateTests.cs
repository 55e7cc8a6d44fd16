using CsCheck;
using Levee.Cluster.Controller;

namespace Levee.Cluster.Tests.Controller;

/// <summary>Levee's placement kept across partitions, as the fleet simulator keeps it.</summary>
public sealed class PlacementStateTests
{
    [Fact]
    public void PartitionsPlacedThenForgotten_LeaveThePlacementChoosingAsIfTheyHadNeverBeenPlaced()
    {
        Gen.Select(Gen.Int[3, 40], Gen.Int[1, 3], Gen.Int[1, 60], Gen.Int[0, 100_000]).Sample((n, rf, refused, seed) =>
        {
            var random = new Random(seed);
            var brokers = Enumerable.Range(1, n).Select(id => (id, random.Next(3) == 0 ? null : $"r{id % 4}")).ToList();
            var kept = new PlacementState(brokers, new Random(seed));
            var undone = new PlacementState(brokers, new Random(seed));
            for (var k = 0; k < 50; k++)
            {
                Assert.Equal(kept.Place(rf).ToArray(), undone.Place(rf).ToArray());
            }

            // What the headroom guard refuses is placed, then forgotten.
            var placed = Enumerable.Range(0, refused).Select(_ => undone.Place(rf)).ToList();
            foreach (var partition in placed)
            {
                undone.Uncount(partition);
            }

            for (var k = 0; k < 100; k++)
            {
                Assert.Equal(kept.Place(rf).ToArray(), undone.Place(rf).ToArray());
            }
        }, iter: 100);
    }

    [Fact]
    public void AThousandBrokersInTenRacks_EveryPartitionOnThreeRacks_AndNoBrokerMoreThanAFifthOffTheMeanReplicas()
    {
        var state = new PlacementState([.. Enumerable.Range(1, 1000).Select(id => (id, (string?)$"r{(id - 1) / 100}"))], new Random(1));
        var replicas = new int[1001];
        for (var p = 0; p < 30_000; p++)
        {
            var placed = state.Place(3);
            Assert.Equal(3, placed.Select(id => (id - 1) / 100).Distinct().Count());
            foreach (var id in placed)
            {
                replicas[id]++;
            }
        }

        // 90 replicas each on average: leaderships and takeovers come first, so replica counts are near, not equal.
        Assert.InRange(replicas.Skip(1).Min(), 72, 90);
        Assert.InRange(replicas.Skip(1).Max(), 90, 108);
    }
}
