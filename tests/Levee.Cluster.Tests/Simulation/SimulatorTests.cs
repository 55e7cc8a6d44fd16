using System.Collections.Immutable;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Cluster.Simulation;

namespace Levee.Cluster.Tests.Simulation;

/// <summary>`levee simulate`'s fleet simulator: deterministic, and exact on a fleet small enough to compute by hand.</summary>
public sealed class SimulatorTests
{
    private static readonly SimulationOptions Small = new(Brokers: 12, Racks: 3, Tenants: 80, Partitions: 1200, Days: 3, Seed: 7, Failures: 10);

    [Fact]
    public void TheSameSeed_GivesTheSameJson_ByteForByte_AndAnotherSeedAnotherOne()
    {
        var first = FleetSimulator.Run(Small).ToJson();
        var again = FleetSimulator.Run(Small).ToJson();
        var other = FleetSimulator.Run(Small with { Seed = 8 }).ToJson();

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.Equal(SimulationPolicy.All.Select(p => p.Name), FleetSimulator.Run(Small).Policies.Select(p => p.Policy.Name));
    }

    [Fact]
    public void UnderTheGuard_NoSurvivorIsReservedPastItsBound_AndLessIsSoldThanWithout()
    {
        var report = FleetSimulator.Run(Small);
        var guarded = report.Policies.Single(p => p.Policy.Name == "levee-guard");
        var unguarded = report.Policies.Single(p => p.Policy.Name == "levee-placement");

        // Every tenant is admitted without the guard (the fleet is sold past its limits); the guard stops short.
        Assert.Equal(Small.Tenants, unguarded.Fleet.Accepted);
        Assert.InRange(guarded.Fleet.Accepted, 1, Small.Tenants - 1);
        Assert.True(guarded.Utilisation < unguarded.Utilisation);
        Assert.StartsWith("Creating topic 'tenant-", guarded.Fleet.FirstRefusal, StringComparison.Ordinal);

        // The guard's promise, checked on the fleet it admitted: rebuilt from scratch in a ledger, every survivor of
        // every single broker or rack failure stays within its limit less the margin.
        var ledger = new CapacityLedger(report.Policies[0].Fleet.Workload.Brokers);
        var fleet = guarded.Fleet;
        var rf = fleet.Workload.ReplicationFactor;
        for (var p = 0; p < fleet.PartitionCount; p++)
        {
            ImmutableArray<int> replicas = [.. fleet.Replicas.AsSpan(p * rf, rf)];
            ledger.Add(new LedgerPartition(replicas, replicas, replicas[0], fleet.Workload.Tenants[fleet.TenantOf[p]].Load));
        }

        for (var b = 0; b < ledger.Brokers.Length; b++)
        {
            foreach (var resource in BrokerCapacity.Resources)
            {
                Assert.True(ledger.WorstValue(b, resource) <= ledger.Bound(b, resource, Small.HeadroomMargin) + 1e-6, $"broker {ledger.Brokers[b]} {resource}");
            }
        }
    }

    [Fact]
    public void FourBrokers_OneFailure_LeadershipsMoveToTheFirstInSyncSurvivor_WithTheLoadsComputedByHand()
    {
        // Partitions of two replicas: p0 on [1, 2], p1 on [1, 3], p2 on [2, 1], p3 on [3, 4], each of its own tenant.
        // Per partition: 10 x (1..4) bytes/s in, 30 x (1..4) consumed, 2 x (1..4) connections.
        var tenants = Enumerable.Range(1, 4).Select(k => new SimulatedTenant($"t{k}", Plan.BuiltIn["basic-0"], 1, 0, 1, 1, new PartitionLoad(100 * k, 10 * k, 30 * k, 2 * k))).ToList();
        var brokers = Enumerable.Range(1, 4).Select(id => new LedgerBroker(id, null, BrokerCapacity.Unbounded)).ToList();
        var workload = Workload.Of(new SimulationOptions(Brokers: 4, Racks: 1, Tenants: 4, Partitions: 4), brokers, tenants, 2);
        var fleet = Fleet.Of(workload, [(0, [1, 2]), (1, [1, 3]), (2, [2, 1]), (3, [3, 4])]);
        var demand = new Demand(2, 1);

        var after = new ScenarioRun(fleet, SimulationPolicy.All[2], new FailureScenario(FailureKind.Broker, 30, [0], [1]), demand, 0.2).Failover();

        // Bytes out at a leader: consumed + in x (replicas - 1). Before: broker 1 leads p0 (40) and p1 (80), broker 2 p2
        // (120), broker 3 p3 (160). Broker 1 fails: p0 goes to broker 2, p1 to broker 3.
        Assert.Equal([160.0, 240.0, 0.0], Survivors(after, CapacityResource.BytesOutPerSec));
        Assert.Equal([6.0 + 2, 8.0 + 4, 0.0], Survivors(after, CapacityResource.Connections));

        // Replicas stay where they are until healing: broker 2 hosts p0 and p2, broker 3 p1 and p3, broker 4 p3.
        Assert.Equal([2.0, 2.0, 1.0], Survivors(after, CapacityResource.Partitions));
        Assert.Equal([40.0, 60.0, 40.0], Survivors(after, CapacityResource.BytesInPerSec));
    }

    [Fact]
    public void FourBrokers_OneFailure_TheCapacityModelPlansItsReplicasOnTheSurvivorsGivenFewest_WithTheLoadsComputedByHand()
    {
        var ledger = new CapacityLedger([.. Enumerable.Range(1, 4).Select(id => new LedgerBroker(id, null, BrokerCapacity.Unbounded))]);
        foreach (var (replicas, k) in new[] { ([1, 2], 1), ([1, 3], 2), ([2, 1], 3), (new[] { 3, 4 }, 4) })
        {
            ImmutableArray<int> list = [.. replicas];
            ledger.Add(new LedgerPartition(list, list, list[0], new PartitionLoad(100 * k, 10 * k, 30 * k, 2 * k)));
        }

        // Broker 1 fails (failure 0). p0: leader to 2, replica to 3 (3 and 4 were given none: the first). p1: leader to
        // 3, replica to 2 (2 and 4 none). p2: replica to 4 (3 was given one already).
        double[] After(CapacityResource r) => [.. Enumerable.Range(1, 3).Select(b => ledger.After(0, b, r))];
        Assert.Equal([3.0, 3.0, 2.0], After(CapacityResource.Partitions));
        Assert.Equal([600.0, 700.0, 700.0], After(CapacityResource.DiskBytes));
        Assert.Equal([60.0, 70.0, 70.0], After(CapacityResource.BytesInPerSec));
        Assert.Equal([160.0, 240.0, 0.0], After(CapacityResource.BytesOutPerSec));
        Assert.Equal([8.0, 12.0, 0.0], After(CapacityResource.Connections));
        Assert.Equal(0, ledger.After(0, 0, CapacityResource.Partitions));
        Assert.Equal("broker 1", ledger.FailureName(0));
    }

    // Brokers 2 to 4's value of a resource.
    private static double[] Survivors(IReadOnlyList<double[]> loads, CapacityResource resource) => [.. loads.Skip(1).Select(l => l[(int)resource])];
}
