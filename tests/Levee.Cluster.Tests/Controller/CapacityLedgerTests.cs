using System.Collections.Immutable;
using CsCheck;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Tests.Controller;

/// <summary>The incremental capacity model against the model of a whole image, on random small clusters.</summary>
public sealed class CapacityLedgerTests
{
    private static readonly BrokerCapacity Limits = BrokerCapacity.Unbounded with { Partitions = 100 };

    [Fact]
    public void PartitionsAddedInAnyOrder_ReserveWhatTheModelOfTheImageReserves_AndMoveTheSameLeaderships()
    {
        Gen.Select(Gen.Int[2, 8], Gen.Int[1, 3], Gen.Int[1, 12], Gen.Int[0, 100_000]).Sample((n, rf, partitions, seed) =>
        {
            var (image, model) = RandomCluster(n, Math.Min(rf, n), partitions, seed);
            var ledger = new CapacityLedger(model.Ledger.Brokers.Select(id => new LedgerBroker(id, image.Brokers[id].Rack, Limits)).ToList());
            var loads = CapacityModel.Loads(image);
            var all = image.TopicsById.Values.SelectMany(t => t.Partitions.Values.Select(p => new LedgerPartition(p.Replicas, p.Isr, p.Leader, loads.GetValueOrDefault(t.Name)))).ToList();
            foreach (var partition in all.OrderBy(_ => new Random(seed).Next()))
            {
                ledger.Add(partition);
            }

            for (var b = 0; b < n; b++)
            {
                foreach (var r in BrokerCapacity.Resources)
                {
                    Assert.Equal(model.Ledger.Used(b, r), ledger.Used(b, r), 9);
                }

                // Leaderships go by the election rule, whatever the order: bytes out and connections after every failure.
                for (var f = 0; f < ledger.FailureCount; f++)
                {
                    Assert.Equal(model.Ledger.After(f, b, CapacityResource.BytesOutPerSec), ledger.After(f, b, CapacityResource.BytesOutPerSec), 9);
                    Assert.Equal(model.Ledger.After(f, b, CapacityResource.Connections), ledger.After(f, b, CapacityResource.Connections), 9);
                }
            }

            // Every replica a failure takes is re-created once, wherever: the same totals over the survivors.
            for (var f = 0; f < ledger.FailureCount; f++)
            {
                Assert.Equal(Enumerable.Range(0, n).Sum(b => model.Ledger.After(f, b, CapacityResource.Partitions)), Enumerable.Range(0, n).Sum(b => ledger.After(f, b, CapacityResource.Partitions)), 9);
            }
        }, iter: 100);
    }

    [Fact]
    public void AChangeRolledBack_LeavesTheLedgerExactlyAsIfItHadNeverBeenAdded()
    {
        Gen.Select(Gen.Int[2, 8], Gen.Int[1, 3], Gen.Int[1, 12], Gen.Int[0, 100_000]).Sample((n, rf, partitions, seed) =>
        {
            rf = Math.Min(rf, n);
            var (image, model) = RandomCluster(n, rf, partitions, seed);
            var loads = CapacityModel.Loads(image);
            var all = image.TopicsById.Values.SelectMany(t => t.Partitions.Values.Select(p => new LedgerPartition(p.Replicas, p.Isr, p.Leader, loads.GetValueOrDefault(t.Name)))).ToList();
            var brokers = model.Ledger.Brokers.Select(id => new LedgerBroker(id, image.Brokers[id].Rack, Limits)).ToList();
            var clean = new CapacityLedger(brokers);
            var undone = new CapacityLedger(brokers);
            var random = new Random(seed);
            var half = all.Count / 2;
            foreach (var partition in all.Take(half))
            {
                clean.Add(partition);
                undone.Add(partition);
            }

            // A refused change: random partitions added, the guard consulted, then undone.
            undone.Begin();
            for (var k = 0; k < 5; k++)
            {
                ImmutableArray<int> replicas = [.. Enumerable.Range(1, n).OrderBy(_ => random.Next()).Take(rf)];
                undone.Add(new LedgerPartition(replicas, replicas, replicas[0], new PartitionLoad(random.Next(1000), random.Next(1000), random.Next(1000), random.Next(10))));
            }

            Assert.NotEmpty(undone.Changes());
            undone.Rollback();
            foreach (var partition in all.Skip(half))
            {
                clean.Add(partition);
                undone.Add(partition);
            }

            for (var b = 0; b < n; b++)
            {
                foreach (var r in BrokerCapacity.Resources)
                {
                    Assert.Equal(clean.Used(b, r), undone.Used(b, r));
                    Assert.Equal(clean.Worst(b, r), undone.Worst(b, r));
                    for (var f = 0; f < clean.FailureCount; f++)
                    {
                        Assert.Equal(clean.After(f, b, r), undone.After(f, b, r));
                    }
                }
            }
        }, iter: 100);
    }

    [Fact]
    public void TheGuardOnTheLedger_RefusesWhatTheGuardOnTheImageRefuses_WithTheSameMessage()
    {
        var decisions = new List<bool>();
        Gen.Select(Gen.Int[3, 8], Gen.Int[1, 3], Gen.Int[1, 12], Gen.Int[0, 100_000]).Sample((n, rf, partitions, seed) =>
        {
            rf = Math.Min(rf, n);

            // Only bytes out is bounded: what a failure moves of it goes by the election rule alone, so the ledger and
            // the model of the whole image must agree exactly (replicas re-created go where the order of adding says).
            var limits = new AdminLimits(BrokerCapacity: BrokerCapacity.Unbounded with { BytesOutPerSec = (1 + (seed % 12)) << 20 });
            var (image, _) = RandomCluster(n, rf, partitions, seed);
            image = image.Apply(new ConfigRecord(ConfigResourceType.Tenant, "beta", TenantDirectory.PlanKey, "basic-1"));
            var decision = ControllerDecisions.CreateTopic(image, "beta.new", Guid.NewGuid(), 1 + (seed % 4), (short)rf, null, new Dictionary<string, string>(), new Random(seed), AdminLimits.Default);
            var after = image.Apply(decision.Records);
            var load = CapacityModel.Loads(after)["beta.new"];

            var ledger = CapacityModel.Build(image, limits.Capacity).Ledger;
            ledger.Begin();
            foreach (var partition in after.TopicsByName["beta.new"].Partitions.Values)
            {
                ledger.Add(new LedgerPartition(partition.Replicas, partition.Isr, partition.Leader, load));
            }

            var incremental = HeadroomGuard.Check(ledger, limits.HeadroomMargin, "Creating topic 'beta.new'");
            var whole = HeadroomGuard.Check(image, after, limits, "Creating topic 'beta.new'");
            Assert.Equal(whole?.Message, incremental?.Message);
            lock (decisions)
            {
                decisions.Add(whole is null);
            }
        }, iter: 100);

        // Both outcomes were seen.
        Assert.Contains(true, decisions);
        Assert.Contains(false, decisions);
    }

    // A cluster of n brokers (racks on some seeds) with one tenant's topics of random sizes, placed by the controller.
    private static (MetadataImage Image, CapacityModel Model) RandomCluster(int n, int rf, int partitions, int seed)
    {
        var random = new Random(seed);
        var image = MetadataImage.Empty;
        for (var id = 1; id <= n; id++)
        {
            image = image.Apply(new RegisterBrokerRecord(id, Guid.NewGuid(), id, [new BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9000 + id)], Rack: seed % 2 == 0 && n > 2 ? $"r{id % 2}" : null));
            image = image.Apply(new UnfenceBrokerRecord(id, id));
        }

        image = image.Apply(new ConfigRecord(ConfigResourceType.Tenant, "acme", TenantDirectory.PlanKey, "basic-1"));
        for (var t = 0; random.Next(3) > 0 || t == 0; t++)
        {
            image = image.Apply(ControllerDecisions.CreateTopic(image, $"acme.t{t}", Guid.NewGuid(), random.Next(1, partitions + 1), (short)rf, null, new Dictionary<string, string>(), random).Records);
        }

        return (image, CapacityModel.Build(image, Limits));
    }
}
