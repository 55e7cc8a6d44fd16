using System.Collections.Immutable;
using System.Globalization;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Controller;

/// <summary>A resource of a broker that the headroom guard keeps within its limit after any single failure.</summary>
public enum CapacityResource
{
    /// <summary>Partition replicas hosted.</summary>
    Partitions,

    /// <summary>Bytes of log on disk.</summary>
    DiskBytes,

    /// <summary>Bytes per second received: from producers as leader, by replication as follower.</summary>
    BytesInPerSec,

    /// <summary>Bytes per second sent: to consumers and to followers, as leader.</summary>
    BytesOutPerSec,

    /// <summary>Client connections held open.</summary>
    Connections,
}

/// <summary>
/// The limits of one broker (<c>broker.capacity.*</c>): what it can take of each <see cref="CapacityResource"/>.
/// </summary>
/// <param name="Partitions">broker.capacity.partitions.</param>
/// <param name="DiskBytes">broker.capacity.disk.bytes.</param>
/// <param name="BytesInPerSec">broker.capacity.bytes.in.per.sec.</param>
/// <param name="BytesOutPerSec">broker.capacity.bytes.out.per.sec.</param>
/// <param name="Connections">broker.capacity.connections.</param>
public sealed record BrokerCapacity(long Partitions, long DiskBytes, long BytesInPerSec, long BytesOutPerSec, long Connections)
{
    /// <summary>Every resource, in the order they are shown.</summary>
    public static ImmutableArray<CapacityResource> Resources { get; } = [.. Enum.GetValues<CapacityResource>()];

    /// <summary>Limits that bound nothing a test or a laptop reaches: 50,000 replicas, 1 PiB, 100 GiB/s, 1,000,000 connections.</summary>
    public static BrokerCapacity Unbounded { get; } = new(50_000, 1L << 50, 100L << 30, 100L << 30, 1_000_000);

    /// <summary>The config key of <paramref name="resource"/>'s limit.</summary>
    public static string Key(CapacityResource resource) => resource switch
    {
        CapacityResource.Partitions => "broker.capacity.partitions",
        CapacityResource.DiskBytes => "broker.capacity.disk.bytes",
        CapacityResource.BytesInPerSec => "broker.capacity.bytes.in.per.sec",
        CapacityResource.BytesOutPerSec => "broker.capacity.bytes.out.per.sec",
        _ => "broker.capacity.connections",
    };

    /// <summary>The short name of <paramref name="resource"/> in reports and JSON: <c>partitions</c>, <c>disk_bytes</c>, ...</summary>
    public static string Name(CapacityResource resource) => resource switch
    {
        CapacityResource.Partitions => "partitions",
        CapacityResource.DiskBytes => "disk_bytes",
        CapacityResource.BytesInPerSec => "bytes_in_per_sec",
        CapacityResource.BytesOutPerSec => "bytes_out_per_sec",
        _ => "connections",
    };

    /// <summary>The limit of <paramref name="resource"/>.</summary>
    public long this[CapacityResource resource] => resource switch
    {
        CapacityResource.Partitions => Partitions,
        CapacityResource.DiskBytes => DiskBytes,
        CapacityResource.BytesInPerSec => BytesInPerSec,
        CapacityResource.BytesOutPerSec => BytesOutPerSec,
        _ => Connections,
    };

    /// <summary>
    /// The limits of broker <paramref name="brokerId"/>: these, overridden key by key by the cluster-wide BROKER config
    /// resource (name "") and then by the broker's own (its id), as Kafka layers dynamic broker configs.
    /// </summary>
    public BrokerCapacity For(MetadataImage image, int brokerId)
    {
        ArgumentNullException.ThrowIfNull(image);
        var cluster = image.GetConfigs(ConfigResourceType.Broker, "");
        var own = image.GetConfigs(ConfigResourceType.Broker, brokerId.ToString(CultureInfo.InvariantCulture));
        if (cluster.IsEmpty && own.IsEmpty)
        {
            return this;
        }

        long Value(CapacityResource resource)
        {
            var key = Key(resource);
            return (own.TryGetValue(key, out var text) || cluster.TryGetValue(key, out text))
                && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
                ? value
                : this[resource];
        }

        return new(Value(CapacityResource.Partitions), Value(CapacityResource.DiskBytes), Value(CapacityResource.BytesInPerSec), Value(CapacityResource.BytesOutPerSec), Value(CapacityResource.Connections));
    }
}

/// <summary>What one partition reserves: per replica (disk, bytes in) and at its leader (bytes out, connections).</summary>
/// <param name="DiskBytes">Bytes each replica may hold.</param>
/// <param name="BytesInPerSec">Bytes per second written to it: each replica receives them.</param>
/// <param name="ConsumeBytesPerSec">Bytes per second read from it, at its leader.</param>
/// <param name="Connections">Client connections its leader holds for it.</param>
public readonly record struct PartitionLoad(double DiskBytes, double BytesInPerSec, double ConsumeBytesPerSec, double Connections);

/// <summary>A survivor's worst value of one resource over every single failure, and the failure that causes it.</summary>
/// <param name="Value">The value after that failure (or now, with one broker).</param>
/// <param name="Failure">What fails: <c>broker 2</c>, <c>rack r1</c>, or <c>none</c>.</param>
public readonly record struct WorstCase(double Value, string Failure);

/// <summary>
/// The controller's capacity model: what each live broker has reserved of every <see cref="CapacityResource"/>, from
/// what the cluster has promised (the replicas placed; a tenant's plan rates, storage and connections spread over its
/// partitions; a topic's <c>retention.bytes</c> per replica), and what the loss of any one broker, or rack, would put on
/// each survivor: its leaderships go to the replica election would pick (the first surviving in-sync replica in
/// preferred order) and, once it is replaced, its replicas to the survivors placement would pick (the least loaded
/// not already holding the partition). Pure: built from a metadata image.
/// </summary>
public sealed class CapacityModel
{
    private static readonly int ResourceCount = BrokerCapacity.Resources.Length;
    private readonly Dictionary<int, int> _index;
    private readonly List<Reserved> _partitions;
    private readonly ImmutableArray<(string Name, ImmutableArray<int> Brokers)> _failures;
    private ImmutableArray<ImmutableArray<WorstCase>>? _worst;

    private CapacityModel(ImmutableArray<int> brokers, ImmutableArray<BrokerCapacity> limits, double[][] used, List<Reserved> partitions, ImmutableArray<(string, ImmutableArray<int>)> failures)
    {
        Brokers = brokers;
        Limits = limits;
        _index = brokers.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        Used = used;
        _partitions = partitions;
        _failures = failures;
    }

    /// <summary>The live (unfenced) brokers, by id.</summary>
    public ImmutableArray<int> Brokers { get; }

    /// <summary>Each broker's limits, in the order of <see cref="Brokers"/>.</summary>
    public ImmutableArray<BrokerCapacity> Limits { get; }

    /// <summary>What each broker has reserved now, by broker (order of <see cref="Brokers"/>) and resource.</summary>
    public IReadOnlyList<double[]> Used { get; }

    /// <summary>The failures considered: each live broker, and each rack when brokers have racks.</summary>
    public IEnumerable<string> Failures => _failures.Select(f => f.Name);

    /// <summary>The model of <paramref name="image"/>, with <paramref name="defaults"/> as every broker's limits unless its configs override them.</summary>
    public static CapacityModel Build(MetadataImage image, BrokerCapacity defaults)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(defaults);
        var live = image.Brokers.Values.Where(b => !b.Fenced).ToList();
        var brokers = live.Select(b => b.Id).ToImmutableArray();
        var limits = brokers.Select(id => defaults.For(image, id)).ToImmutableArray();
        var index = brokers.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        var used = brokers.Select(_ => new double[ResourceCount]).ToArray();
        var loads = Loads(image);
        var partitions = new List<Reserved>();
        foreach (var topic in image.TopicsById.Values)
        {
            var load = loads.GetValueOrDefault(topic.Name);
            foreach (var partition in topic.Partitions.Values)
            {
                var reserved = new Reserved(partition.Replicas, partition.Isr, partition.Leader, load);
                partitions.Add(reserved);
                foreach (var replica in partition.Replicas)
                {
                    if (index.TryGetValue(replica, out var i))
                    {
                        AddReplica(used[i], load);
                    }
                }

                if (index.TryGetValue(partition.Leader, out var leader))
                {
                    AddLeadership(used[leader], reserved);
                }
            }
        }

        var failures = brokers.Select(id => ($"broker {id}", ImmutableArray.Create(id))).ToList();
        failures.AddRange(live.Where(b => !string.IsNullOrEmpty(b.Rack)).GroupBy(b => b.Rack!, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Where(g => g.Count() < live.Count)
            .Select(g => ($"rack {g.Key}", g.Select(b => b.Id).ToImmutableArray())));
        return new CapacityModel(brokers, limits, used, partitions, [.. failures]);
    }

    /// <summary>Each broker's value of each resource after <paramref name="failed"/> fail and their replicas are replaced; failed brokers read 0.</summary>
    public double[][] After(IReadOnlyCollection<int> failed)
    {
        ArgumentNullException.ThrowIfNull(failed);
        var after = Used.Select(u => (double[])u.Clone()).ToArray();
        var down = new bool[Brokers.Length];
        foreach (var id in failed)
        {
            if (_index.TryGetValue(id, out var i))
            {
                down[i] = true;
                Array.Clear(after[i]);
            }
        }

        foreach (var partition in _partitions)
        {
            if (failed.Contains(partition.Leader) && NewLeader(partition, down) is { } leader)
            {
                AddLeadership(after[leader], partition);
            }

            foreach (var replica in partition.Replicas)
            {
                if (failed.Contains(replica) && Replacement(partition, down, after) is { } target)
                {
                    AddReplica(after[target], partition.Load);
                }
            }
        }

        return after;
    }

    /// <summary>For each broker and resource, the worst value over every failure (over none with a single broker), and which failure.</summary>
    public ImmutableArray<ImmutableArray<WorstCase>> Worst()
    {
        if (_worst is { } known)
        {
            return known;
        }

        var worst = Used.Select(u => u.Select(v => new WorstCase(v, "none")).ToArray()).ToArray();
        foreach (var (name, failed) in _failures)
        {
            if (failed.Length >= Brokers.Length)
            {
                continue;
            }

            var after = After(failed);
            for (var b = 0; b < Brokers.Length; b++)
            {
                if (failed.Contains(Brokers[b]))
                {
                    continue;
                }

                for (var r = 0; r < ResourceCount; r++)
                {
                    if (after[b][r] > worst[b][r].Value || worst[b][r].Failure == "none")
                    {
                        worst[b][r] = new WorstCase(Math.Max(after[b][r], worst[b][r].Value), name);
                    }
                }
            }
        }

        var result = worst.Select(w => w.ToImmutableArray()).ToImmutableArray();
        _worst = result;
        return result;
    }

    /// <summary>The most each broker may be at after a failure: its limit less the margin; with one broker, its limit.</summary>
    public double Bound(int brokerIndex, CapacityResource resource, double margin) =>
        Limits[brokerIndex][resource] * (Brokers.Length > 1 ? 1 - margin : 1);

    /// <summary>What one partition of each topic reserves, from tenants' plans and topics' <c>retention.bytes</c>.</summary>
    public static Dictionary<string, PartitionLoad> Loads(MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var loads = new Dictionary<string, PartitionLoad>(StringComparer.Ordinal);
        var byTenant = new Dictionary<string, List<TopicImage>>(StringComparer.Ordinal);
        foreach (var topic in image.TopicsByName.Values)
        {
            var dot = topic.Name.IndexOf(Tenant.Separator, StringComparison.Ordinal);
            if (dot > 0 && image.Tenants.Tenants.ContainsKey(topic.Name[..dot]))
            {
                var name = topic.Name[..dot];
                if (!byTenant.TryGetValue(name, out var list))
                {
                    byTenant[name] = list = [];
                }

                list.Add(topic);
            }

            var retention = image.GetConfigs(ConfigResourceType.Topic, topic.Name).GetValueOrDefault("retention.bytes");
            if (long.TryParse(retention, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) && bytes > 0)
            {
                loads[topic.Name] = new PartitionLoad(bytes, 0, 0, 0);
            }
        }

        foreach (var (name, topics) in byTenant)
        {
            if (!image.Plans.TryGetValue(image.Tenants.Tenants[name].Plan, out var plan))
            {
                continue;
            }

            double count = topics.Sum(t => t.Partitions.Count);
            if (count == 0)
            {
                continue;
            }

            double Share(string key) => (plan.Limit(key) ?? 0) / count;
            foreach (var topic in topics)
            {
                var retention = loads.GetValueOrDefault(topic.Name).DiskBytes;
                loads[topic.Name] = new PartitionLoad(Math.Max(retention, Share(Plan.StorageBytes)), Share(Plan.ProducerByteRate), Share(Plan.ConsumerByteRate), Share(Plan.Connections));
            }
        }

        return loads;
    }

    private static void AddReplica(double[] used, PartitionLoad load)
    {
        used[(int)CapacityResource.Partitions] += 1;
        used[(int)CapacityResource.DiskBytes] += load.DiskBytes;
        used[(int)CapacityResource.BytesInPerSec] += load.BytesInPerSec;
    }

    private static void AddLeadership(double[] used, Reserved partition)
    {
        used[(int)CapacityResource.BytesOutPerSec] += partition.Load.ConsumeBytesPerSec + (partition.Load.BytesInPerSec * (partition.Replicas.Length - 1));
        used[(int)CapacityResource.Connections] += partition.Load.Connections;
    }

    // The replica an election picks: the first in preferred order that is in the ISR and alive.
    private int? NewLeader(Reserved partition, bool[] down)
    {
        foreach (var replica in partition.Replicas)
        {
            if (partition.Isr.Contains(replica) && _index.TryGetValue(replica, out var i) && !down[i])
            {
                return i;
            }
        }

        return null;
    }

    // The survivor that takes a failed replica: the one with the fewest replicas for its limit, not holding the partition.
    private int? Replacement(Reserved partition, bool[] down, double[][] after)
    {
        int? best = null;
        var bestFill = double.MaxValue;
        for (var i = 0; i < Brokers.Length; i++)
        {
            if (down[i] || partition.Replicas.Contains(Brokers[i]))
            {
                continue;
            }

            var fill = after[i][(int)CapacityResource.Partitions] / Limits[i].Partitions;
            if (fill < bestFill)
            {
                bestFill = fill;
                best = i;
            }
        }

        return best;
    }

    private sealed record Reserved(ImmutableArray<int> Replicas, ImmutableArray<int> Isr, int Leader, PartitionLoad Load);
}
