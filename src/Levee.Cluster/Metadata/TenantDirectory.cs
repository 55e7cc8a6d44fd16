using System.Collections.Immutable;

namespace Levee.Cluster.Metadata;

/// <summary>A tenant of the hosted service: its plan, the SCRAM users that are its principals, and its namespace prefix.</summary>
public sealed record Tenant(string Name, string Plan, ImmutableArray<string> Users)
{
    /// <summary>The separator between a tenant's name and a name it uses: tenant names never contain it.</summary>
    public const char Separator = '.';

    /// <summary>What every stored name of the tenant (topic, group, transactional id) starts with: <c>acme.</c>.</summary>
    public string Prefix => Name + Separator;
}

/// <summary>
/// The tenants of a metadata image, read from its TENANT config resources (<c>plan</c>, <c>users</c>), with the
/// user-to-tenant index that binds a SASL principal to its tenant.
/// </summary>
public sealed class TenantDirectory
{
    /// <summary>The config key naming a tenant's plan; a tenant exists while it has one.</summary>
    public const string PlanKey = "plan";

    /// <summary>The config key listing a tenant's SCRAM users, comma-separated.</summary>
    public const string UsersKey = "users";

    private TenantDirectory(ImmutableSortedDictionary<string, Tenant> tenants)
    {
        Tenants = tenants;
        var byUser = new Dictionary<string, Tenant>(StringComparer.Ordinal);
        foreach (var tenant in tenants.Values)
        {
            foreach (var user in tenant.Users)
            {
                byUser[user] = tenant;
            }
        }

        ByUser = byUser.ToImmutableDictionary(StringComparer.Ordinal);
    }

    /// <summary>Tenants by name.</summary>
    public ImmutableSortedDictionary<string, Tenant> Tenants { get; }

    /// <summary>Tenants by SCRAM user name.</summary>
    public ImmutableDictionary<string, Tenant> ByUser { get; }

    /// <summary>The tenant whose principal <paramref name="user"/> is, if any.</summary>
    public Tenant? OfUser(string user) => ByUser.GetValueOrDefault(user);

    /// <summary>The tenants of <paramref name="configs"/>.</summary>
    public static TenantDirectory Build(ImmutableSortedDictionary<ConfigResource, ImmutableSortedDictionary<string, string>> configs)
    {
        ArgumentNullException.ThrowIfNull(configs);
        var tenants = ImmutableSortedDictionary.CreateBuilder<string, Tenant>(StringComparer.Ordinal);
        foreach (var (resource, values) in configs)
        {
            if (resource.Type == ConfigResourceType.Tenant && values.TryGetValue(PlanKey, out var plan))
            {
                tenants[resource.Name] = new Tenant(resource.Name, plan, SplitList(values.GetValueOrDefault(UsersKey)));
            }
        }

        return new TenantDirectory(tenants.ToImmutable());
    }

    /// <summary>A comma-separated list config as its items (empty ones dropped).</summary>
    public static ImmutableArray<string> SplitList(string? value) =>
        [.. (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}
