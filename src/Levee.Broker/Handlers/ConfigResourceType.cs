using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Protocol;

namespace Levee.Broker.Handlers;

/// <summary>Kafka's config resource types (DescribeConfigs, AlterConfigs).</summary>
internal enum ConfigResourceType : sbyte
{
    Topic = 2,
    Broker = 4,
    BrokerLogger = 8,

    // Levee's own types: tenants and plans of the hosted service, stored as config resources (docs/tenants.md).
    Tenant = 100,
    Plan = 101,

    // Levee's own view of a broker's capacity model (docs/cascades.md); read only.
    Capacity = 102,
}

/// <summary>What Kafka checks for a config resource: the operation on the topic, or on the cluster for a broker's configs (and Levee's tenants and plans).</summary>
internal static class ConfigResourceAuthorization
{
    /// <summary>The error for a denied <paramref name="operation"/> on the config resource, or NONE (an unknown type is left to the handler).</summary>
    public static ErrorCode Check(this RequestAuthorizer authorizer, RequestContext context, AclOperation operation, sbyte resourceType, string resourceName) =>
        (ConfigResourceType)resourceType switch
        {
            ConfigResourceType.Topic when !authorizer.Authorize(context, operation, AclResourceType.Topic, resourceName) => ErrorCode.TopicAuthorizationFailed,
            ConfigResourceType.Broker or ConfigResourceType.BrokerLogger or ConfigResourceType.Tenant or ConfigResourceType.Plan or ConfigResourceType.Capacity when !authorizer.AuthorizeCluster(context, operation) => ErrorCode.ClusterAuthorizationFailed,
            _ => ErrorCode.None,
        };
}

/// <summary>The names of config resources in a tenant's namespace: a topic resource's name is a topic name.</summary>
internal static class ConfigResourceNames
{
    /// <summary>The stored name of a resource a tenant names (a topic's goes into its namespace; others are left).</summary>
    public static string ToStored(this TenantNamespace tenant, sbyte resourceType, string name) =>
        (ConfigResourceType)resourceType == ConfigResourceType.Topic ? tenant.ToStored(name) : name;

    /// <summary>The name a tenant uses for a resource of a response.</summary>
    public static string ToTenant(this TenantNamespace tenant, sbyte resourceType, string name) =>
        (ConfigResourceType)resourceType == ConfigResourceType.Topic ? tenant.ToTenant(name) : name;
}

/// <summary>What the config-altering handlers share: which resources the controller decides, and how those go to it.</summary>
internal static class ConfigResourceForwarding
{
    /// <summary>Whether the controller decides changes of this resource type (broker configs, tenants, plans).</summary>
    public static bool DecidedByController(sbyte resourceType) =>
        (ConfigResourceType)resourceType is ConfigResourceType.Broker or ConfigResourceType.Tenant or ConfigResourceType.Plan;

    /// <summary>Kafka's refusal of a resource naming a key twice, or null.</summary>
    public static string? DuplicateKeys(IEnumerable<string> names) =>
        names.GroupBy(n => n, StringComparer.Ordinal).Any(g => g.Count() > 1) ? "Error due to duplicate config keys" : null;

    /// <summary>
    /// Sends the resources the sender may alter to the controller (which trusts a forwarded request) and answers the
    /// others with their denial, in the request's order; null when no controller answered.
    /// </summary>
    public static async Task<List<TResult>?> ForwardAllowedAsync<TResource, TResult>(IReadOnlyList<TResource> resources, IReadOnlyList<ErrorCode> denials, Func<List<TResource>, Task<List<TResult>?>> forward, Func<TResource, ErrorCode, TResult> denied)
    {
        var allowed = resources.Where((_, i) => denials[i] == ErrorCode.None).ToList();
        var answers = allowed.Count == 0 ? [] : await forward(allowed).ConfigureAwait(false);
        if (answers is null)
        {
            return null;
        }

        var queue = new Queue<TResult>(answers);
        return [.. resources.Select((r, i) => denials[i] == ErrorCode.None ? queue.Dequeue() : denied(r, denials[i]))];
    }
}
