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
        var model = CapacityModel.Build(after, limits.Capacity).Ledger;
        CapacityLedger? previous = null;
        var every = Enumerable.Range(0, model.Brokers.Length).SelectMany(b => BrokerCapacity.Resources.Select(r => new LedgerChange(b, r, double.NaN)));
        return Check(model, every, c =>
        {
            previous ??= CapacityModel.Build(before, limits.Capacity).Ledger;
            return previous.IndexOf(model.Brokers[c.Broker]) is var p and >= 0 ? previous.WorstValue(p, c.Resource) : 0;
        }, limits.HeadroomMargin, what);
    }

    /// <summary>
    /// Refuses the change just added to <paramref name="ledger"/> (between <see cref="CapacityLedger.Begin"/> and now),
    /// or null: the same rule, on the values the change touched only, which is what lets the fleet simulator guard a
    /// million partitions.
    /// </summary>
    public static Decision? Check(CapacityLedger ledger, double margin, string what)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        return Check(ledger, ledger.Changes(), c => c.WorstBefore, margin, what);
    }

    // The first broker and resource, in order, whose worst value is over its bound and higher than it was.
    private static Decision? Check(CapacityLedger model, IEnumerable<LedgerChange> candidates, Func<LedgerChange, double> was, double margin, string what)
    {
        foreach (var candidate in candidates)
        {
            var (b, resource, _) = candidate;
            var bound = model.Bound(b, resource, margin);
            var value = model.WorstValue(b, resource);
            if (value <= bound + 1e-6 || value <= was(candidate) + 1e-6)
            {
                continue;
            }

            return Decision.Fail(ErrorCode.PolicyViolation, Message(what, model, b, resource, model.Worst(b, resource), bound, margin));
        }

        return null;
    }

    private static string Message(string what, CapacityLedger model, int b, CapacityResource resource, WorstCase worst, double bound, double margin)
    {
        var (value, failure) = worst;
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
