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
/// The controller's capacity model of a metadata image: what each live broker has reserved of every
/// <see cref="CapacityResource"/>, from what the cluster has promised (the replicas placed; a tenant's plan rates,
/// storage and connections spread over its partitions; a topic's <c>retention.bytes</c> per replica), and what the loss
/// of any one broker, or rack, would put on each survivor: a <see cref="CapacityLedger"/> of the live brokers holding
/// every partition of the image, in the image's order. Pure: built from a metadata image.
/// </summary>
public sealed class CapacityModel
{
    private ImmutableArray<ImmutableArray<WorstCase>>? _worst;

    private CapacityModel(CapacityLedger ledger)
    {
        Ledger = ledger;
        Used = [.. Enumerable.Range(0, ledger.Brokers.Length).Select(b => BrokerCapacity.Resources.Select(r => ledger.Used(b, r)).ToArray())];
    }

    /// <summary>The ledger the model reads: every partition of the image added in turn.</summary>
    public CapacityLedger Ledger { get; }

    /// <summary>The live (unfenced) brokers, by id.</summary>
    public ImmutableArray<int> Brokers => Ledger.Brokers;

    /// <summary>Each broker's limits, in the order of <see cref="Brokers"/>.</summary>
    public ImmutableArray<BrokerCapacity> Limits => Ledger.Limits;

    /// <summary>What each broker has reserved now, by broker (order of <see cref="Brokers"/>) and resource.</summary>
    public IReadOnlyList<double[]> Used { get; }

    /// <summary>The failures considered: each live broker, and each rack when brokers have racks.</summary>
    public IEnumerable<string> Failures => Enumerable.Range(0, Ledger.FailureCount).Select(Ledger.FailureName);

    /// <summary>The model of <paramref name="image"/>, with <paramref name="defaults"/> as every broker's limits unless its configs override them.</summary>
    public static CapacityModel Build(MetadataImage image, BrokerCapacity defaults)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(defaults);
        var ledger = new CapacityLedger([.. image.Brokers.Values.Where(b => !b.Fenced).Select(b => new LedgerBroker(b.Id, b.Rack, defaults.For(image, b.Id)))]);
        var loads = Loads(image);
        foreach (var topic in image.TopicsById.Values)
        {
            var load = loads.GetValueOrDefault(topic.Name);
            foreach (var partition in topic.Partitions.Values)
            {
                ledger.Add(new LedgerPartition(partition.Replicas, partition.Isr, partition.Leader, load));
            }
        }

        return new CapacityModel(ledger);
    }

    /// <summary>
    /// Each broker's value of each resource after <paramref name="failed"/> (one of the <see cref="Failures"/>: a broker,
    /// or every broker of a rack) fail and their replicas are replaced; failed brokers read 0.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="failed"/> is not a failure the model plans for.</exception>
    public double[][] After(IReadOnlyCollection<int> failed)
    {
        ArgumentNullException.ThrowIfNull(failed);
        var failure = Enumerable.Range(0, Ledger.FailureCount).FirstOrDefault(f => Ledger.FailureMembers(f).Select(i => Brokers[i]).Order().SequenceEqual(failed.Order()), -1);
        if (failure < 0)
        {
            throw new ArgumentException($"The capacity model plans for single failures ({string.Join(", ", Failures)}), not for [{string.Join(", ", failed)}].", nameof(failed));
        }

        return [.. Enumerable.Range(0, Brokers.Length).Select(b => BrokerCapacity.Resources.Select(r => Ledger.After(failure, b, r)).ToArray())];
    }

    /// <summary>For each broker and resource, the worst value over every failure (over none with a single broker), and which failure.</summary>
    public ImmutableArray<ImmutableArray<WorstCase>> Worst() =>
        _worst ??= [.. Enumerable.Range(0, Brokers.Length).Select(b => BrokerCapacity.Resources.Select(r => Ledger.Worst(b, r)).ToImmutableArray())];

    /// <summary>The most each broker may be at after a failure: its limit less the margin; with one broker, its limit.</summary>
    public double Bound(int brokerIndex, CapacityResource resource, double margin) => Ledger.Bound(brokerIndex, resource, margin);

    /// <summary>
    /// What one of a tenant's <paramref name="partitions"/> partitions reserves of its <paramref name="plan"/>: an even
    /// share of its storage (or the topic's <paramref name="retentionBytes"/>, if larger), produce and consume rates and
    /// connections.
    /// </summary>
    public static PartitionLoad Share(Plan plan, double partitions, double retentionBytes = 0)
    {
        ArgumentNullException.ThrowIfNull(plan);
        double Of(string key) => (plan.Limit(key) ?? 0) / partitions;
        return new PartitionLoad(Math.Max(retentionBytes, Of(Plan.StorageBytes)), Of(Plan.ProducerByteRate), Of(Plan.ConsumerByteRate), Of(Plan.Connections));
    }

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

            foreach (var topic in topics)
            {
                loads[topic.Name] = Share(plan, count, loads.GetValueOrDefault(topic.Name).DiskBytes);
            }
        }

        return loads;
    }
}
