using System.Collections.Immutable;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Simulation;

/// <summary>One tenant: its plan, the topic it asks for, when, and how much of its plan it uses.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Plan">Its plan.</param>
/// <param name="Partitions">Partitions of its one topic.</param>
/// <param name="ArrivalHours">When it creates the topic.</param>
/// <param name="Usage">The share of its plan's rates and connections it uses at the daily peak.</param>
/// <param name="DiskFill">The share of its storage it holds.</param>
/// <param name="Load">What one of its partitions reserves (<see cref="CapacityModel.Share"/> of its plan).</param>
public sealed record SimulatedTenant(string Name, Plan Plan, int Partitions, double ArrivalHours, double Usage, double DiskFill, PartitionLoad Load)
{
    /// <summary>What one of its partitions carries at the daily peak: its disk filled, its rates and connections used.</summary>
    public PartitionLoad Used { get; } = new(Load.DiskBytes * DiskFill, Load.BytesInPerSec * Usage, Load.ConsumeBytesPerSec * Usage, Load.Connections * Usage);

    /// <summary>Adds to <paramref name="total"/> what its whole topic reserves on the fleet, by resource.</summary>
    public void AddDemand(Span<double> total, int replication)
    {
        Span<double> partition = stackalloc double[total.Length];
        for (var r = 0; r < replication; r++)
        {
            CapacityLedger.AddReplica(partition, Load);
        }

        CapacityLedger.AddLeadership(partition, Load, replication);
        for (var r = 0; r < total.Length; r++)
        {
            total[r] += partition[r] * Partitions;
        }
    }
}

/// <summary>
/// The fleet and its demand, the same for every policy: brokers with racks and limits, and tenants with plans. Most
/// tenants are on the built-in basic plans, about one in a thousand on a large dedicated one. The limits are those of a
/// fleet provisioned for the demand: if every tenant were admitted, the fleet would be sold at
/// <see cref="SoldRatio"/> of each resource's limit (network oversold, as hosted services do, counting on tenants not
/// all using their plans at once).
/// </summary>
public sealed class Workload
{
    /// <summary>Reserved load of all tenants together, for each resource's total limit: partitions 0.75, disk 1.0, bytes in and out 1.3, connections 1.0.</summary>
    public static ImmutableArray<double> SoldRatio { get; } = [0.75, 1.0, 1.3, 1.3, 1.0];

    /// <summary>The dedicated plan of the few very large tenants: 200 MiB/s in, 600 MiB/s out, 100 TiB, 10,000 partitions, 20,000 connections.</summary>
    public static Plan Dedicated { get; } = new("dedicated", new Dictionary<string, long>
    {
        [Plan.ProducerByteRate] = 200L << 20,
        [Plan.ConsumerByteRate] = 600L << 20,
        [Plan.StorageBytes] = 100L << 40,
        [Plan.Partitions] = 10_000,
        [Plan.Connections] = 20_000,
    }.ToImmutableSortedDictionary(StringComparer.Ordinal));

    private Workload(SimulationOptions options, ImmutableArray<LedgerBroker> brokers, ImmutableArray<SimulatedTenant> tenants, int replication)
    {
        Options = options;
        Brokers = brokers;
        Tenants = tenants;
        ReplicationFactor = replication;
    }

    /// <summary>What is simulated.</summary>
    public SimulationOptions Options { get; }

    /// <summary>The brokers: ids 1 to N, racks <c>r0</c>.. in contiguous blocks, every one with the same limits.</summary>
    public ImmutableArray<LedgerBroker> Brokers { get; }

    /// <summary>The tenants, in the order they arrive.</summary>
    public ImmutableArray<SimulatedTenant> Tenants { get; }

    /// <summary>Replicas per partition: 3.</summary>
    public int ReplicationFactor { get; }

    /// <summary>Every broker's limits.</summary>
    public BrokerCapacity Limits => Brokers[0].Limits;

    /// <summary>
    /// A workload of given <paramref name="brokers"/> (ids 1 to N, in order) and <paramref name="tenants"/> (in the order
    /// they arrive), with partitions of <paramref name="replicationFactor"/> replicas: a known fleet, such as a live
    /// cluster's or one computed by hand.
    /// </summary>
    public static Workload Of(SimulationOptions options, IReadOnlyList<LedgerBroker> brokers, IReadOnlyList<SimulatedTenant> tenants, int replicationFactor)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(brokers);
        ArgumentNullException.ThrowIfNull(tenants);
        if (brokers.Select((b, i) => b.Id != i + 1).Any(wrong => wrong))
        {
            throw new ArgumentException("Brokers are numbered 1 to N, in order.", nameof(brokers));
        }

        return new Workload(options, [.. brokers], [.. tenants], replicationFactor);
    }

    /// <summary>The workload of <paramref name="options"/>, drawn from its seed.</summary>
    public static Workload Create(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var random = new Random(options.Seed);
        var plans = Plan.BuiltIn;
        var dedicated = Math.Max(1, options.Tenants / 1000);
        var drafts = new List<(Plan Plan, double Size, double Usage, double Fill)>(options.Tenants);
        for (var t = 0; t < options.Tenants; t++)
        {
            var draw = random.NextDouble();
            var (plan, low, high) = t < dedicated ? (Dedicated, 3000, 8000)
                : draw < 0.70 ? (plans["basic-0"], 4, 30)
                : draw < 0.92 ? (plans["basic-1"], 20, 100)
                : (plans["basic-2"], 50, 300);
            var usage = plan == Dedicated ? 0.8 + (0.1 * random.NextDouble()) : 0.35 + (0.5 * random.NextDouble());
            drafts.Add((plan, low + (random.NextDouble() * (high - low)), usage, 0.4 + (0.5 * random.NextDouble())));
        }

        // Partition counts scaled to the total asked for, each within its plan's partition limit, at least one.
        var scale = options.Partitions / drafts.Sum(d => d.Size);
        var counts = drafts.Select(d => (int)Math.Clamp(Math.Round(d.Size * scale), 1, d.Plan.Limit(Plan.Partitions) ?? int.MaxValue)).ToArray();
        var left = options.Partitions - counts.Sum();
        for (var t = 0; left != 0 && t < counts.Length * 4; t++)
        {
            var i = t % counts.Length;
            var step = Math.Sign(left);
            if (counts[i] + step >= 1 && counts[i] + step <= (drafts[i].Plan.Limit(Plan.Partitions) ?? int.MaxValue))
            {
                counts[i] += step;
                left -= step;
            }
        }

        // Arrivals spread over the first day, in an order drawn at random (the dedicated tenants among the rest).
        var order = Enumerable.Range(0, drafts.Count).OrderBy(_ => random.Next()).ToArray();
        var tenants = order.Select((t, k) =>
        {
            var d = drafts[t];
            return new SimulatedTenant($"tenant-{t}", d.Plan, counts[t], (k + random.NextDouble()) / drafts.Count * 24, d.Usage, d.Fill, CapacityModel.Share(d.Plan, counts[t]));
        }).ToImmutableArray();

        var replication = Math.Min(3, options.Brokers);
        var demand = new double[BrokerCapacity.Resources.Length];
        foreach (var tenant in tenants)
        {
            tenant.AddDemand(demand, replication);
        }

        long Limit(CapacityResource r) => (long)Math.Ceiling(demand[(int)r] / options.Brokers / SoldRatio[(int)r]);
        var limits = new BrokerCapacity(Limit(CapacityResource.Partitions), Limit(CapacityResource.DiskBytes), Limit(CapacityResource.BytesInPerSec), Limit(CapacityResource.BytesOutPerSec), Limit(CapacityResource.Connections));
        var perRack = (options.Brokers + options.Racks - 1) / options.Racks;
        var brokers = Enumerable.Range(0, options.Brokers).Select(i => new LedgerBroker(i + 1, $"r{i / perRack}", limits)).ToImmutableArray();
        return new Workload(options, brokers, tenants, replication);
    }
}
