using System.Collections.Immutable;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Capacity;

/// <summary>One resource of one broker in the headroom guard's view.</summary>
/// <param name="Limit">The broker's <c>broker.capacity.*</c> limit.</param>
/// <param name="Used">What is reserved on it now (rounded).</param>
/// <param name="Bound">The limit less <c>headroom.margin</c>: what the guard keeps every survivor under (rounded down).</param>
/// <param name="Worst">Its load after the worst single broker or rack failure (rounded).</param>
/// <param name="WorstFailure">Which failure that is.</param>
public sealed record ResourceCapacity(long Limit, long Used, long Bound, long Worst, string WorstFailure)
{
    /// <summary><see cref="Bound"/> less <see cref="Worst"/>: what is left after the worst failure; below 0 the guard's invariant is broken.</summary>
    public long Headroom => Bound - Worst;
}

/// <summary>One broker in the headroom guard's view, by resource.</summary>
/// <param name="Id">The broker id.</param>
/// <param name="Resources">Each resource, by <see cref="BrokerCapacity.Name"/> (partitions, disk_bytes, bytes_in_per_sec, bytes_out_per_sec, connections).</param>
public sealed record BrokerCapacityView(int Id, ImmutableSortedDictionary<string, ResourceCapacity> Resources);

/// <summary>
/// Every live broker's capacity model as the controller computes it from the metadata image (docs/cascades.md): what
/// DescribeConfigs shows as Levee's CAPACITY resource (<see cref="CapacityConfigs"/>, read by <c>levee capacity</c>) and
/// what the admin API and <c>/metrics</c> show.
/// </summary>
/// <param name="HeadroomMargin">The part of every limit that must stay free after any single failure.</param>
/// <param name="Brokers">The brokers, by id.</param>
public sealed record CapacityView(double HeadroomMargin, ImmutableArray<BrokerCapacityView> Brokers)
{
    /// <summary>The view of <paramref name="image"/> with <paramref name="limits"/>.</summary>
    public static CapacityView Build(MetadataImage image, AdminLimits limits)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(limits);
        var model = CapacityModel.Build(image, limits.Capacity);
        var worst = model.Worst();
        var brokers = ImmutableArray.CreateBuilder<BrokerCapacityView>(model.Brokers.Length);
        for (var b = 0; b < model.Brokers.Length; b++)
        {
            var resources = ImmutableSortedDictionary.CreateBuilder<string, ResourceCapacity>(StringComparer.Ordinal);
            foreach (var resource in BrokerCapacity.Resources)
            {
                var w = worst[b][(int)resource];
                resources[BrokerCapacity.Name(resource)] = new ResourceCapacity(
                    model.Limits[b][resource],
                    (long)Math.Round(model.Used[b][(int)resource]),
                    (long)Math.Floor(model.Bound(b, resource, limits.HeadroomMargin)),
                    (long)Math.Round(w.Value),
                    w.Failure);
            }

            brokers.Add(new BrokerCapacityView(model.Brokers[b], resources.ToImmutable()));
        }

        return new CapacityView(limits.HeadroomMargin, brokers.MoveToImmutable());
    }
}
