using System.Globalization;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Broker.Tenants;

/// <summary>
/// What DescribeConfigs answers for Levee's TENANT and PLAN config resources: one tenant (its plan, users, prefix,
/// usage (topics and partitions in the cluster; storage, rates, connections and throttling on the broker asked) and
/// its plan's limits), every tenant (name = plan), one plan (its limits) or every plan (name = its limits).
/// </summary>
public static class TenantConfigs
{
    /// <summary>The configs of tenant <paramref name="name"/>, or of every tenant when it is empty; null when there is no such tenant.</summary>
    public static IReadOnlyList<(string Name, string Value)>? DescribeTenant(MetadataImage image, string name, TenantUsage usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(name);
        var tenants = image.Tenants.Tenants;
        if (name.Length == 0)
        {
            return [.. tenants.Values.Select(t => (t.Name, t.Plan))];
        }

        if (!tenants.TryGetValue(name, out var tenant))
        {
            return null;
        }

        var c = CultureInfo.InvariantCulture;
        var result = new List<(string, string)>
        {
            (TenantDirectory.PlanKey, tenant.Plan),
            (TenantDirectory.UsersKey, string.Join(',', tenant.Users)),
            ("prefix", tenant.Prefix),
            ("usage.topics", TenantControl.TopicsOf(image, tenant.Prefix).Count().ToString(c)),
            ("usage.partitions", TenantControl.PartitionsOf(image, tenant.Prefix).ToString(c)),
        };
        result.AddRange(usage.Describe(tenant));
        if (image.Plans.TryGetValue(tenant.Plan, out var plan))
        {
            result.AddRange(plan.Limits.Select(l => ("limit." + l.Key, l.Value.ToString(c))));
        }

        return result;
    }

    /// <summary>The limits of plan <paramref name="name"/>, or every plan's summary when it is empty; null when there is no such plan.</summary>
    public static IReadOnlyList<(string Name, string Value)>? DescribePlan(MetadataImage image, string name)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(name);
        var plans = image.Plans;
        if (name.Length == 0)
        {
            return [.. plans.Values.Select(p => (p.Name, p.Summary()))];
        }

        return plans.TryGetValue(name, out var plan)
            ? [.. plan.Limits.Select(l => (l.Key, l.Value.ToString(CultureInfo.InvariantCulture)))]
            : null;
    }

    /// <summary>The error for a TENANT or PLAN resource that does not exist.</summary>
    public static (ErrorCode Error, string Message) NotFound(ConfigResourceType type, string name) =>
        (ErrorCode.ResourceNotFound, $"{(type == ConfigResourceType.Tenant ? "Tenant" : "Plan")} '{name}' does not exist.");
}
