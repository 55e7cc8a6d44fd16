using System.Globalization;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Cluster.Controller;

/// <summary>
/// The headroom guard: the invariant that after the loss of any one broker (or rack), every survivor stays at or
/// under each limit less <c>headroom.margin</c> (with a single broker: within its limits). A change that adds load
/// is refused with POLICY_VIOLATION when the cluster after it breaks the invariant where the cluster before it did
/// not, or more than it did (so a cluster already short of headroom, while a broker is down, still accepts changes
/// that add nothing to the shortfall). The message names the resource, the broker that would overflow, the failure
/// that would cause it and the numbers.
/// </summary>
public static class HeadroomGuard
{
    /// <summary>Kafka-style key of the margin.</summary>
    public const string MarginKey = "headroom.margin";

    /// <summary>
    /// Refuses <paramref name="what"/>, which turns <paramref name="before"/> into <paramref name="after"/>, or null when
    /// it keeps the invariant (or breaks it no more than before).
    /// </summary>
    public static Decision? Check(MetadataImage before, MetadataImage after, AdminLimits limits, string what)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        ArgumentNullException.ThrowIfNull(limits);
        var model = CapacityModel.Build(after, limits.Capacity);
        var worst = model.Worst();
        CapacityModel? previous = null;
        for (var b = 0; b < model.Brokers.Length; b++)
        {
            foreach (var resource in BrokerCapacity.Resources)
            {
                var bound = model.Bound(b, resource, limits.HeadroomMargin);
                var (value, failure) = worst[b][(int)resource];
                if (value <= bound + 1e-6)
                {
                    continue;
                }

                previous ??= CapacityModel.Build(before, limits.Capacity);
                var was = previous.Brokers.IndexOf(model.Brokers[b]) is var p and >= 0 ? previous.Worst()[p][(int)resource].Value : 0;
                if (value <= was + 1e-6)
                {
                    continue;
                }

                return Decision.Fail(ErrorCode.PolicyViolation, Message(what, model, b, resource, value, failure, bound, limits.HeadroomMargin));
            }
        }

        return null;
    }

    private static string Message(string what, CapacityModel model, int b, CapacityResource resource, double value, string failure, double bound, double margin)
    {
        var broker = model.Brokers[b];
        var limit = model.Limits[b][resource];
        var key = BrokerCapacity.Key(resource);
        var name = BrokerCapacity.Name(resource);
        var c = CultureInfo.InvariantCulture;
        return failure == "none"
            ? string.Create(c, $"{what} would take broker {broker} to {value:0.##} {name}, over its limit of {limit} ({key}).")
            : string.Create(c, $"{what} would leave the cluster unable to absorb the loss of {failure}: broker {broker} would then reach {value:0.##} {name}, over {bound:0.##} (its limit {limit}, {key}, less the headroom margin {margin:0.##}).");
    }
}
