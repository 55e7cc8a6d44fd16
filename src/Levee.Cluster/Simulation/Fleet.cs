using System.Collections.Immutable;
using Levee.Cluster.Controller;

namespace Levee.Cluster.Simulation;

/// <summary>How full the fleet was sold at one point of the first day: what tenants had asked for, and what was admitted, as shares of the fleet's limits on its busiest resource.</summary>
/// <param name="Hours">When.</param>
/// <param name="Requested">What every tenant arrived so far asked for.</param>
/// <param name="Sold">What was admitted.</param>
public readonly record struct SoldPoint(double Hours, double Requested, double Sold);

/// <summary>
/// The fleet one policy builds over the first day: each tenant's topic placed as the policy places it (Kafka's stripes or
/// Levee's <see cref="PlacementState"/>) and, under the guard, admitted or refused by <see cref="HeadroomGuard"/> on a
/// <see cref="CapacityLedger"/> of the whole fleet, exactly as the controller decides a CreateTopics request.
/// </summary>
public sealed class Fleet
{
    private const int R = 5;

    private Fleet(Workload workload, int[] replicas, int[] tenantOf, int accepted, string? firstRefusal, double? firstRefusalFill, ImmutableArray<SoldPoint> sold, ImmutableArray<double> utilisation)
    {
        Workload = workload;
        Replicas = replicas;
        TenantOf = tenantOf;
        Accepted = accepted;
        FirstRefusal = firstRefusal;
        FirstRefusalFill = firstRefusalFill;
        Sold = sold;
        Utilisation = utilisation;
        var n = workload.Brokers.Length;
        var rf = workload.ReplicationFactor;
        HostedStart = new int[n + 1];
        foreach (var id in replicas)
        {
            HostedStart[id]++;
        }

        for (var i = 0; i < n; i++)
        {
            HostedStart[i + 1] += HostedStart[i];
        }

        Hosted = new int[replicas.Length];
        var next = HostedStart[..n];
        for (var p = 0; p < PartitionCount; p++)
        {
            for (var j = 0; j < rf; j++)
            {
                Hosted[next[replicas[(p * rf) + j] - 1]++] = p;
            }
        }

        Reserved = new double[n * R];
        Carried = new double[n * R];
        for (var p = 0; p < PartitionCount; p++)
        {
            var tenant = workload.Tenants[tenantOf[p]];
            for (var j = 0; j < rf; j++)
            {
                var b = replicas[(p * rf) + j] - 1;
                CapacityLedger.AddReplica(Reserved.AsSpan(b * R, R), tenant.Load);
                CapacityLedger.AddReplica(Carried.AsSpan(b * R, R), tenant.Used);
            }

            var leader = replicas[p * rf] - 1;
            CapacityLedger.AddLeadership(Reserved.AsSpan(leader * R, R), tenant.Load, rf);
            CapacityLedger.AddLeadership(Carried.AsSpan(leader * R, R), tenant.Used, rf);
        }
    }

    /// <summary>The tenants, brokers and limits.</summary>
    public Workload Workload { get; }

    /// <summary>Partitions placed.</summary>
    public int PartitionCount => TenantOf.Length;

    /// <summary>Each partition's replica broker ids, preferred leader first, <see cref="Workload.ReplicationFactor"/> per partition.</summary>
    public int[] Replicas { get; }

    /// <summary>Each partition's tenant (index in <see cref="Workload.Tenants"/>).</summary>
    public int[] TenantOf { get; }

    /// <summary>The partitions broker index i hosts: <see cref="Hosted"/> from <c>HostedStart[i]</c> to <c>HostedStart[i + 1]</c>.</summary>
    public int[] HostedStart { get; }

    /// <summary>Partitions by hosting broker, in partition order.</summary>
    public int[] Hosted { get; }

    /// <summary>What each broker (index) has reserved of each resource with preferred leaders: broker * 5 + resource.</summary>
    public double[] Reserved { get; }

    /// <summary>What each broker carries at the daily peak, before bursts: its tenants' usage of what it reserved.</summary>
    public double[] Carried { get; }

    /// <summary>Tenants admitted.</summary>
    public int Accepted { get; }

    /// <summary>The guard's first refusal, or null.</summary>
    public string? FirstRefusal { get; }

    /// <summary>How full the fleet was sold (busiest resource) when the guard first refused, or null.</summary>
    public double? FirstRefusalFill { get; }

    /// <summary>How full the fleet was sold as tenants arrived.</summary>
    public ImmutableArray<SoldPoint> Sold { get; }

    /// <summary>At the end of the first day, the reserved load of each resource for the fleet's total limit.</summary>
    public ImmutableArray<double> Utilisation { get; }

    /// <summary>
    /// The fleet of <paramref name="workload"/> with partitions placed as given: each its tenant (index in
    /// <see cref="Workload.Tenants"/>) and replica broker ids, preferred leader first.
    /// </summary>
    public static Fleet Of(Workload workload, IReadOnlyList<(int Tenant, ImmutableArray<int> Replicas)> partitions)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(partitions);
        if (partitions.Any(p => p.Replicas.Length != workload.ReplicationFactor))
        {
            throw new ArgumentException($"Every partition has {workload.ReplicationFactor} replicas.", nameof(partitions));
        }

        var totals = BrokerCapacity.Resources.Select(r => (double)workload.Limits[r] * workload.Brokers.Length).ToArray();
        var sold = new double[R];
        foreach (var tenant in partitions.Select(p => p.Tenant).Distinct())
        {
            workload.Tenants[tenant].AddDemand(sold, workload.ReplicationFactor);
        }

        return new Fleet(workload, [.. partitions.SelectMany(p => p.Replicas)], [.. partitions.Select(p => p.Tenant)], partitions.Select(p => p.Tenant).Distinct().Count(), null, null, [], [.. sold.Select((s, r) => s / totals[r])]);
    }

    /// <summary>The fleet <paramref name="workload"/>'s tenants make under <paramref name="placement"/>, with or without the guard.</summary>
    public static Fleet Build(Workload workload, PlacementPolicy placement, bool guard, double margin, int seed)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var random = new Random(seed);
        var rf = workload.ReplicationFactor;
        var ids = workload.Brokers.Select(b => b.Id).ToArray();
        var state = placement == PlacementPolicy.Levee ? new PlacementState([.. workload.Brokers.Select(b => (b.Id, b.Rack))], random) : null;
        var ledger = guard ? new CapacityLedger(workload.Brokers) : null;
        var replicas = new List<int>(workload.Options.Partitions * rf);
        var tenantOf = new List<int>(workload.Options.Partitions);
        var totals = BrokerCapacity.Resources.Select(r => (double)workload.Limits[r] * ids.Length).ToArray();
        var requested = new double[R];
        var sold = new double[R];
        var curve = ImmutableArray.CreateBuilder<SoldPoint>();
        var every = Math.Max(1, workload.Tenants.Length / 200);
        var accepted = 0;
        string? firstRefusal = null;
        double? firstRefusalFill = null;
        for (var t = 0; t < workload.Tenants.Length; t++)
        {
            var tenant = workload.Tenants[t];
            tenant.AddDemand(requested, rf);
            IReadOnlyList<ImmutableArray<int>> placed = state is null
                ? StripedPlacement.Assign(ids, tenant.Partitions, rf, 0, random)
                : [.. Enumerable.Range(0, tenant.Partitions).Select(_ => state.Place(rf))];
            if (ledger is not null)
            {
                ledger.Begin();
                foreach (var partition in placed)
                {
                    ledger.Add(new LedgerPartition(partition, partition, partition[0], tenant.Load));
                }

                if (HeadroomGuard.Check(ledger, margin, $"Creating topic '{tenant.Name}.events'") is { } refused)
                {
                    ledger.Rollback();
                    foreach (var partition in placed)
                    {
                        state?.Uncount(partition);
                    }

                    firstRefusal ??= refused.Message;
                    firstRefusalFill ??= Fill(sold, totals);
                    Record(t);
                    continue;
                }

                ledger.Commit();
            }

            foreach (var partition in placed)
            {
                replicas.AddRange(partition);
                tenantOf.Add(t);
            }

            tenant.AddDemand(sold, rf);
            accepted++;
            Record(t);
        }

        var utilisation = Enumerable.Range(0, R).Select(r => sold[r] / totals[r]).ToImmutableArray();
        return new Fleet(workload, [.. replicas], [.. tenantOf], accepted, firstRefusal, firstRefusalFill, curve.ToImmutable(), utilisation);

        void Record(int t)
        {
            if (t % every == 0 || t == workload.Tenants.Length - 1)
            {
                curve.Add(new SoldPoint(workload.Tenants[t].ArrivalHours, Fill(requested, totals), Fill(sold, totals)));
            }
        }
    }

    // The busiest resource's share of its fleet-wide limit.
    private static double Fill(double[] load, double[] totals)
    {
        var most = 0.0;
        for (var r = 0; r < totals.Length; r++)
        {
            most = Math.Max(most, load[r] / totals[r]);
        }

        return most;
    }
}
