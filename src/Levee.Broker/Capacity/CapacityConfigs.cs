using System.Globalization;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Capacity;

/// <summary>
/// Levee's CAPACITY config resource (type 102), read with DescribeConfigs: one broker's capacity model as the
/// controller computes it from the metadata image (docs/cascades.md, <see cref="CapacityView"/>). For each resource
/// (<c>partitions</c>, <c>disk_bytes</c>, <c>bytes_in_per_sec</c>, <c>bytes_out_per_sec</c>, <c>connections</c>):
/// <c>.limit</c>, <c>.used</c> (reserved now), <c>.bound</c> (the limit less <c>headroom.margin</c>), <c>.worst</c> (after
/// the worst single failure) and <c>.worst.failure</c> (which one); and <c>headroom.margin</c>.
/// </summary>
public static class CapacityConfigs
{
    /// <summary>The entries of broker <paramref name="name"/> (its id); null when no live broker has that id.</summary>
    public static IReadOnlyList<(string Name, string Value)>? Describe(MetadataImage image, AdminLimits limits, string name)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(limits);
        if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return null;
        }

        var view = CapacityView.Build(image, limits);
        if (view.Brokers.FirstOrDefault(b => b.Id == id) is not { } broker)
        {
            return null;
        }

        var c = CultureInfo.InvariantCulture;
        var entries = new List<(string, string)> { (HeadroomGuard.MarginKey, limits.HeadroomMargin.ToString(c)) };
        foreach (var resource in BrokerCapacity.Resources)
        {
            var prefix = BrokerCapacity.Name(resource);
            var r = broker.Resources[prefix];
            entries.Add(($"{prefix}.limit", r.Limit.ToString(c)));
            entries.Add(($"{prefix}.used", r.Used.ToString(c)));
            entries.Add(($"{prefix}.bound", r.Bound.ToString(c)));
            entries.Add(($"{prefix}.worst", r.Worst.ToString(c)));
            entries.Add(($"{prefix}.worst.failure", r.WorstFailure));
        }

        return entries;
    }
}
