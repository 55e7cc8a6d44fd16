using System.Globalization;
using System.Text.RegularExpressions;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Cluster.Controller;

/// <summary>One change of an IncrementalAlterConfigs resource: SET (0), DELETE (1), APPEND (2) or SUBTRACT (3) of a key.</summary>
/// <param name="Name">The config key.</param>
/// <param name="Operation">The operation code, as Kafka numbers them.</param>
/// <param name="Value">The value, for SET, APPEND and SUBTRACT.</param>
public readonly record struct ConfigChange(string Name, sbyte Operation, string? Value);

/// <summary>
/// The rules of tenants and plans, stored as Levee's TENANT and PLAN config resources: which names and keys exist,
/// which values are accepted, what a tenant may not be changed into, and the plan's partition limit on topics
/// created in a tenant's namespace. Pure: handlers call it on the controller's current image and commit what it
/// returns.
/// </summary>
public static partial class TenantControl
{
    private const sbyte Set = 0;
    private const sbyte Delete = 1;
    private const sbyte Append = 2;
    private const sbyte Subtract = 3;

    /// <summary>The longest tenant or plan name.</summary>
    public const int MaxNameLength = 32;

    /// <summary>
    /// Whether <paramref name="name"/> can name a tenant or a plan: a lowercase letter, then lowercase letters, digits
    /// and '-', at most 32 in all. The namespace separator '.' can never appear, so one tenant's prefix is never the
    /// start of another's.
    /// </summary>
    public static bool IsValidName(string name) => NameRule().IsMatch(name);

    /// <summary>The records that apply <paramref name="changes"/> to tenant <paramref name="name"/>, or the refusal.</summary>
    public static Decision AlterTenant(MetadataImage image, string name, IReadOnlyList<ConfigChange> changes)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(changes);
        if (!IsValidName(name))
        {
            return Decision.Fail(ErrorCode.InvalidRequest, $"Tenant name '{name}' is not valid: a lowercase letter, then lowercase letters, digits or '-', at most {MaxNameLength} characters.");
        }

        var current = image.GetConfigs(ConfigResourceType.Tenant, name);
        var plan = current.GetValueOrDefault(TenantDirectory.PlanKey);
        var users = TenantDirectory.SplitList(current.GetValueOrDefault(TenantDirectory.UsersKey)).ToList();
        var deleted = false;
        foreach (var change in changes)
        {
            switch (change.Name, change.Operation)
            {
                case (TenantDirectory.PlanKey, Set):
                    if (!image.Plans.ContainsKey(change.Value ?? ""))
                    {
                        return Decision.Fail(ErrorCode.InvalidConfig, $"Plan '{change.Value}' does not exist; the plans are {string.Join(", ", image.Plans.Keys)}.");
                    }

                    plan = change.Value;
                    deleted = false;
                    break;
                case (TenantDirectory.PlanKey, Delete):
                    deleted = true;
                    break;
                case (TenantDirectory.UsersKey, Set or Append or Subtract):
                    var items = TenantDirectory.SplitList(change.Value);
                    if (change.Operation == Set)
                    {
                        users.Clear();
                    }

                    if (change.Operation == Subtract)
                    {
                        users.RemoveAll(items.Contains);
                    }
                    else
                    {
                        users.AddRange(items.Where(u => !users.Contains(u)));
                    }

                    break;
                case (TenantDirectory.UsersKey, Delete):
                    users.Clear();
                    break;
                case (TenantDirectory.PlanKey or TenantDirectory.UsersKey, _):
                    return Decision.Fail(ErrorCode.InvalidConfig, $"Config operation {change.Operation} is not allowed for tenant config {change.Name}.");
                default:
                    return Decision.Fail(ErrorCode.InvalidConfig, $"Unknown tenant config name: {change.Name}");
            }
        }

        if (plan is null && !deleted)
        {
            return Decision.Fail(ErrorCode.InvalidConfig, $"Tenant '{name}' does not exist: create it by setting its plan.");
        }

        if (deleted)
        {
            if (users.Count > 0)
            {
                return Decision.Fail(ErrorCode.PolicyViolation, $"Tenant '{name}' still has users ({string.Join(", ", users)}); remove them first.");
            }

            var topics = TopicsOf(image, name + Tenant.Separator).Count();
            if (topics > 0)
            {
                return Decision.Fail(ErrorCode.PolicyViolation, $"Tenant '{name}' still has {topics} topics; delete them first.");
            }

            // Its ACLs go with it (a tenant's ACLs apply to its principals only: they would never apply again).
            return Decision.Commit([
                .. current.Keys.Select(k => new ConfigRecord(ConfigResourceType.Tenant, name, k, null)),
                .. image.Acls.Values.Where(acl => acl.Tenant == name).Select(acl => new RemoveAccessControlEntryRecord(acl.Id))]);
        }

        foreach (var user in users)
        {
            if (user.Length == 0 || user.Contains(',', StringComparison.Ordinal))
            {
                return Decision.Fail(ErrorCode.InvalidConfig, $"'{user}' is not a user name.");
            }

            if (image.Tenants.OfUser(user) is { } owner && owner.Name != name)
            {
                return Decision.Fail(ErrorCode.InvalidConfig, $"User '{user}' already belongs to tenant '{owner.Name}'.");
            }
        }

        var limit = image.Plans[plan!].Limit(Plan.Partitions);
        var partitions = PartitionsOf(image, name + Tenant.Separator);
        if (limit is { } allowed && partitions > allowed && plan != current.GetValueOrDefault(TenantDirectory.PlanKey))
        {
            return Decision.Fail(ErrorCode.PolicyViolation, $"Tenant '{name}' has {partitions} partitions; plan '{plan}' allows {allowed} ({Plan.Partitions}).");
        }

        var records = new List<MetadataRecord>();
        if (plan != current.GetValueOrDefault(TenantDirectory.PlanKey))
        {
            records.Add(new ConfigRecord(ConfigResourceType.Tenant, name, TenantDirectory.PlanKey, plan));
        }

        var joined = users.Count == 0 ? null : string.Join(',', users);
        if (joined != current.GetValueOrDefault(TenantDirectory.UsersKey))
        {
            records.Add(new ConfigRecord(ConfigResourceType.Tenant, name, TenantDirectory.UsersKey, joined));
            // A user no longer the tenant's takes the tenant's ACLs naming it along.
            var removed = TenantDirectory.SplitList(current.GetValueOrDefault(TenantDirectory.UsersKey)).Except(users).Select(u => "User:" + u).ToHashSet(StringComparer.Ordinal);
            records.AddRange(image.Acls.Values.Where(acl => acl.Tenant == name && removed.Contains(acl.Principal)).Select(acl => new RemoveAccessControlEntryRecord(acl.Id)));
        }

        return Decision.Commit(records);
    }

    /// <summary>The records that apply <paramref name="changes"/> to plan <paramref name="name"/>, or the refusal.</summary>
    public static Decision AlterPlan(MetadataImage image, string name, IReadOnlyList<ConfigChange> changes)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(changes);
        if (!IsValidName(name))
        {
            return Decision.Fail(ErrorCode.InvalidRequest, $"Plan name '{name}' is not valid: a lowercase letter, then lowercase letters, digits or '-', at most {MaxNameLength} characters.");
        }

        var records = new List<MetadataRecord>();
        foreach (var change in changes)
        {
            if (!Plan.IsKey(change.Name))
            {
                return Decision.Fail(ErrorCode.InvalidConfig, $"Unknown plan config name: {change.Name}; plans have {string.Join(", ", Plan.Keys)}.");
            }

            switch (change.Operation)
            {
                case Set when long.TryParse(change.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0:
                    records.Add(new ConfigRecord(ConfigResourceType.Plan, name, change.Name, value.ToString(CultureInfo.InvariantCulture)));
                    break;
                case Set:
                    return Decision.Fail(ErrorCode.InvalidConfig, $"Invalid value {change.Value} for plan config {change.Name}: a positive whole number is required.");
                case Delete:
                    records.Add(new ConfigRecord(ConfigResourceType.Plan, name, change.Name, null));
                    break;
                default:
                    return Decision.Fail(ErrorCode.InvalidConfig, $"Config operation {change.Operation} is not allowed for plan config {change.Name}.");
            }
        }

        return Decision.Commit(records);
    }

    /// <summary>
    /// POLICY_VIOLATION when adding <paramref name="added"/> partitions to a topic called <paramref name="topic"/> takes
    /// its tenant over its plan's partition limit; null when the topic is no tenant's or the plan allows it.
    /// </summary>
    public static Decision? CheckPartitions(MetadataImage image, string topic, int added)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(topic);
        if (TenantOf(image, topic) is not { } tenant
            || !image.Plans.TryGetValue(tenant.Plan, out var plan)
            || plan.Limit(Plan.Partitions) is not { } limit)
        {
            return null;
        }

        var used = PartitionsOf(image, tenant.Prefix);
        return used + added <= limit
            ? null
            : Decision.Fail(ErrorCode.PolicyViolation, $"Plan '{plan.Name}' allows {limit} partitions ({Plan.Partitions}); the tenant has {used} and this adds {added}.");
    }

    /// <summary>The tenant whose namespace <paramref name="name"/> is in, if any.</summary>
    public static Tenant? TenantOf(MetadataImage image, string name)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(name);
        var dot = name.IndexOf(Tenant.Separator, StringComparison.Ordinal);
        return dot > 0 && image.Tenants.Tenants.TryGetValue(name[..dot], out var tenant) ? tenant : null;
    }

    /// <summary>How many partitions the topics under <paramref name="prefix"/> have.</summary>
    public static int PartitionsOf(MetadataImage image, string prefix) => TopicsOf(image, prefix).Sum(t => t.Partitions.Count);

    /// <summary>The topics under <paramref name="prefix"/>.</summary>
    public static IEnumerable<TopicImage> TopicsOf(MetadataImage image, string prefix)
    {
        ArgumentNullException.ThrowIfNull(image);
        return image.TopicsByName.Values.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal));
    }

    [GeneratedRegex("^[a-z][a-z0-9-]{0,31}$")]
    private static partial Regex NameRule();
}
