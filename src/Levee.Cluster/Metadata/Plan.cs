using System.Collections.Immutable;
using System.Globalization;

namespace Levee.Cluster.Metadata;

/// <summary>
/// What a tenant's plan allows: byte rates (cluster-wide, bytes per second), storage, partitions, connections, connection
/// creation rate (per second), request time share (percent of one I/O thread, Kafka's request_percentage) and admin
/// mutation rate (partitions created or deleted per second, KIP-599).
/// </summary>
public sealed record Plan(string Name, ImmutableSortedDictionary<string, long> Limits)
{
    /// <summary>Bytes per second a tenant may produce.</summary>
    public const string ProducerByteRate = "producer_byte_rate";

    /// <summary>Bytes per second a tenant may fetch.</summary>
    public const string ConsumerByteRate = "consumer_byte_rate";

    /// <summary>Bytes a tenant may store (every replica's leader copy counted once).</summary>
    public const string StorageBytes = "storage_bytes";

    /// <summary>Partitions a tenant may have.</summary>
    public const string Partitions = "partitions";

    /// <summary>Connections a tenant may hold open.</summary>
    public const string Connections = "connections";

    /// <summary>Connections a tenant may open per second (KIP-612).</summary>
    public const string ConnectionCreationRate = "connection_creation_rate";

    /// <summary>Percent of one request handler thread a tenant's requests may use (Kafka's request_percentage).</summary>
    public const string RequestPercentage = "request_percentage";

    /// <summary>Partitions a tenant may create or delete per second (KIP-599's controller_mutation_rate).</summary>
    public const string ControllerMutationRate = "controller_mutation_rate";

    /// <summary>Every limit a plan has, in the order they are shown.</summary>
    public static ImmutableArray<string> Keys { get; } =
        [ProducerByteRate, ConsumerByteRate, StorageBytes, Partitions, Connections, ConnectionCreationRate, RequestPercentage, ControllerMutationRate];

    /// <summary>
    /// The built-in plans, after the public hosted-Kafka basic tiers: basic-0 produce 64 KB/s, consume 256 KB/s, 4 GB,
    /// 240 partitions; basic-1 512 KB/s, 2 MB/s, 32 GB, 480; basic-2 4 MB/s, 16 MB/s, 64 GB, 960. Connections,
    /// creation rate, request share and mutation rate grow with the tier.
    /// </summary>
    public static ImmutableSortedDictionary<string, Plan> BuiltIn { get; } = new[]
    {
        Create("basic-0", 64 * 1024, 256 * 1024, 4L << 30, 240, 100, 20, 25, 10),
        Create("basic-1", 512 * 1024, 2 * 1024 * 1024, 32L << 30, 480, 500, 50, 50, 20),
        Create("basic-2", 4 * 1024 * 1024, 16 * 1024 * 1024, 64L << 30, 960, 2000, 100, 100, 50),
    }.ToImmutableSortedDictionary(p => p.Name, p => p, StringComparer.Ordinal);

    /// <summary>A limit of the plan; null when the plan sets none (unlimited).</summary>
    public long? Limit(string key) => Limits.TryGetValue(key, out var value) ? value : null;

    /// <summary>The limits as one line: <c>producer_byte_rate=65536,consumer_byte_rate=262144,...</c>.</summary>
    public string Summary() => string.Join(',', Keys.Where(Limits.ContainsKey).Select(k => $"{k}={Limits[k].ToString(CultureInfo.InvariantCulture)}"));

    /// <summary>Whether <paramref name="key"/> is a limit plans have.</summary>
    public static bool IsKey(string key) => Keys.Contains(key);

    /// <summary>
    /// The plans of a metadata image's configs (<see cref="MetadataImage.Plans"/>): the built-in ones, each overridden key by key by a PLAN config resource of
    /// the same name, and the plans only the metadata log defines.
    /// </summary>
    internal static ImmutableSortedDictionary<string, Plan> Build(ImmutableSortedDictionary<ConfigResource, ImmutableSortedDictionary<string, string>> configs)
    {
        var result = BuiltIn.ToBuilder();
        foreach (var (resource, values) in configs)
        {
            if (resource.Type != ConfigResourceType.Plan)
            {
                continue;
            }

            var limits = result.TryGetValue(resource.Name, out var builtIn) ? builtIn.Limits.ToBuilder() : ImmutableSortedDictionary.CreateBuilder<string, long>(StringComparer.Ordinal);
            foreach (var (key, value) in values)
            {
                if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
                {
                    limits[key] = number;
                }
            }

            result[resource.Name] = new Plan(resource.Name, limits.ToImmutable());
        }

        return result.ToImmutable();
    }

    private static Plan Create(string name, long produce, long consume, long storage, long partitions, long connections, long creationRate, long requestPercentage, long mutationRate) =>
        new(name, new Dictionary<string, long>
        {
            [ProducerByteRate] = produce,
            [ConsumerByteRate] = consume,
            [StorageBytes] = storage,
            [Partitions] = partitions,
            [Connections] = connections,
            [ConnectionCreationRate] = creationRate,
            [RequestPercentage] = requestPercentage,
            [ControllerMutationRate] = mutationRate,
        }.ToImmutableSortedDictionary(StringComparer.Ordinal));
}
