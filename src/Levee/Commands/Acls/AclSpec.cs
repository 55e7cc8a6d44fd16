using System.Globalization;
using System.Text;
using Confluent.Kafka.Admin;

namespace Levee.Commands.Acls;

/// <summary>An error in the options of `levee acls`, reported as one line with exit code 2.</summary>
internal sealed class AclUsageException(string message) : Exception(message);

/// <summary>
/// The options of `levee acls`, with kafka-acls.sh's names and defaults, turned into the ACL bindings to create or the
/// filters to list or remove.
/// </summary>
internal sealed record AclSpec
{
    /// <summary>Kafka's ResourceType code of a transactional id, which Confluent.Kafka's enum does not name.</summary>
    private const ResourceType TransactionalIdType = (ResourceType)5;

    /// <summary>Kafka's name of the cluster resource.</summary>
    private const string ClusterName = "kafka-cluster";

    public IReadOnlyList<string> AllowPrincipals { get; init; } = [];

    public IReadOnlyList<string> DenyPrincipals { get; init; } = [];

    public IReadOnlyList<string> AllowHosts { get; init; } = [];

    public IReadOnlyList<string> DenyHosts { get; init; } = [];

    public IReadOnlyList<string> Operations { get; init; } = [];

    public IReadOnlyList<string> Topics { get; init; } = [];

    public IReadOnlyList<string> Groups { get; init; } = [];

    public IReadOnlyList<string> TransactionalIds { get; init; } = [];

    public bool Cluster { get; init; }

    public string? PatternType { get; init; }

    /// <summary>`add`: every (resource, principal, host, operation) named; operations default to All, hosts to "*".</summary>
    public IReadOnlyList<AclBinding> Bindings()
    {
        var pattern = Pattern(ResourcePatternType.Literal);
        if (pattern is not (ResourcePatternType.Literal or ResourcePatternType.Prefixed))
        {
            throw new AclUsageException("--resource-pattern-type must be literal or prefixed to add ACLs.");
        }

        var resources = Resources(pattern);
        if (resources.Count == 0)
        {
            throw new AclUsageException("Name a resource: --topic, --group, --cluster or --transactional-id.");
        }

        if (AllowPrincipals.Count + DenyPrincipals.Count == 0)
        {
            throw new AclUsageException("Name a principal: --allow-principal or --deny-principal (User:NAME).");
        }

        var operations = Operations.Count == 0 ? [AclOperation.All] : ParsedOperations();
        var entries = Entries(AllowPrincipals, AllowHosts, AclPermissionType.Allow).Concat(Entries(DenyPrincipals, DenyHosts, AclPermissionType.Deny));
        return [.. from resource in resources
                   from entry in entries
                   from operation in operations
                   select new AclBinding { Pattern = resource, Entry = new AccessControlEntry { Principal = entry.Principal, Host = entry.Host, Operation = operation, PermissionType = entry.Permission } }];
    }

    /// <summary>`list`: the resources named (every ACL when none), any pattern type unless one is given, filtered by <paramref name="principals"/>.</summary>
    public IReadOnlyList<AclBindingFilter> ListFilters(IReadOnlyList<string> principals)
    {
        var patterns = Resources(Pattern(ResourcePatternType.Any));
        if (patterns.Count == 0)
        {
            patterns = [new ResourcePattern { Type = ResourceType.Any, Name = null, ResourcePatternType = ResourcePatternType.Any }];
        }

        IReadOnlyList<string?> who = principals.Count == 0 ? [null] : [.. principals.Select(CheckPrincipal)];
        return [.. from pattern in patterns
                   from principal in who
                   select Filter(pattern, principal, null, AclOperation.Any, AclPermissionType.Any)];
    }

    /// <summary>`remove`: on the resources named, the ACLs of the principals, hosts and operations named (all of them when none is).</summary>
    public IReadOnlyList<AclBindingFilter> RemoveFilters()
    {
        var resources = Resources(Pattern(ResourcePatternType.Literal));
        if (resources.Count == 0)
        {
            throw new AclUsageException("Name a resource to remove ACLs from: --topic, --group, --cluster or --transactional-id.");
        }

        var operations = Operations.Count == 0 ? [AclOperation.Any] : ParsedOperations();
        var entries = AllowPrincipals.Count + DenyPrincipals.Count == 0
            ? [(Principal: (string?)null, Host: (string?)null, Permission: AclPermissionType.Any)]
            : Entries(AllowPrincipals, AllowHosts, AclPermissionType.Allow).Concat(Entries(DenyPrincipals, DenyHosts, AclPermissionType.Deny))
                .Select(e => (Principal: (string?)e.Principal, Host: (string?)e.Host, e.Permission)).ToList();
        return [.. from resource in resources
                   from entry in entries
                   from operation in operations
                   select Filter(resource, entry.Principal, entry.Host, operation, entry.Permission)];
    }

    /// <summary>kafka-acls.sh's listing: each resource pattern, then its ACLs.</summary>
    public static string Format(IEnumerable<AclBinding> bindings)
    {
        var text = new StringBuilder();
        foreach (var resource in bindings.GroupBy(b => (b.Pattern.Type, b.Pattern.Name, b.Pattern.ResourcePatternType)).OrderBy(g => g.Key.Type).ThenBy(g => g.Key.Name, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"Current ACLs for resource `ResourcePattern(resourceType={TypeName(resource.Key.Type)}, name={resource.Key.Name}, patternType={resource.Key.ResourcePatternType.ToString().ToUpperInvariant()})`:\n");
            foreach (var acl in resource.OrderBy(b => b.Entry.Principal, StringComparer.Ordinal).ThenBy(b => b.Entry.Operation))
            {
                text.Append(CultureInfo.InvariantCulture, $" \t(principal={acl.Entry.Principal}, host={acl.Entry.Host}, operation={OperationName(acl.Entry.Operation)}, permissionType={acl.Entry.PermissionType.ToString().ToUpperInvariant()})\n");
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    private static string TypeName(ResourceType type) => type switch
    {
        ResourceType.Broker => "CLUSTER",
        TransactionalIdType => "TRANSACTIONAL_ID",
        _ => type.ToString().ToUpperInvariant(),
    };

    private static string OperationName(AclOperation operation) => operation switch
    {
        AclOperation.ClusterAction => "CLUSTER_ACTION",
        AclOperation.DescribeConfigs => "DESCRIBE_CONFIGS",
        AclOperation.AlterConfigs => "ALTER_CONFIGS",
        AclOperation.IdempotentWrite => "IDEMPOTENT_WRITE",
        _ => operation.ToString().ToUpperInvariant(),
    };

    private static AclBindingFilter Filter(ResourcePattern pattern, string? principal, string? host, AclOperation operation, AclPermissionType permission) => new()
    {
        PatternFilter = new ResourcePatternFilter { Type = pattern.Type, Name = pattern.Name, ResourcePatternType = pattern.ResourcePatternType },
        EntryFilter = new AccessControlEntryFilter { Principal = principal, Host = host, Operation = operation, PermissionType = permission },
    };

    private ResourcePatternType Pattern(ResourcePatternType fallback) => PatternType?.ToUpperInvariant() switch
    {
        null => fallback,
        "LITERAL" => ResourcePatternType.Literal,
        "PREFIXED" => ResourcePatternType.Prefixed,
        "MATCH" => ResourcePatternType.Match,
        "ANY" => ResourcePatternType.Any,
        _ => throw new AclUsageException($"--resource-pattern-type must be literal, prefixed, match or any, not '{PatternType}'."),
    };

    private List<ResourcePattern> Resources(ResourcePatternType pattern)
    {
        var resources = new List<ResourcePattern>();
        resources.AddRange(Topics.Select(t => new ResourcePattern { Type = ResourceType.Topic, Name = t, ResourcePatternType = pattern }));
        resources.AddRange(Groups.Select(g => new ResourcePattern { Type = ResourceType.Group, Name = g, ResourcePatternType = pattern }));
        resources.AddRange(TransactionalIds.Select(t => new ResourcePattern { Type = TransactionalIdType, Name = t, ResourcePatternType = pattern }));
        if (Cluster)
        {
            resources.Add(new ResourcePattern { Type = ResourceType.Broker, Name = ClusterName, ResourcePatternType = pattern });
        }

        return resources;
    }

    private List<AclOperation> ParsedOperations() =>
    [
        .. Operations.Select(o => Enum.TryParse<AclOperation>(o.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out var parsed) && parsed is not (AclOperation.Unknown or AclOperation.Any)
            ? parsed
            : throw new AclUsageException($"Unknown --operation '{o}': one of Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All.")),
    ];

    // kafka-acls.sh: each principal from each host named, "*" (every host) when none is.
    private static List<(string Principal, string Host, AclPermissionType Permission)> Entries(IReadOnlyList<string> principals, IReadOnlyList<string> hosts, AclPermissionType permission) =>
    [
        .. from principal in principals
           from host in hosts.Count == 0 ? ["*"] : hosts
           select (CheckPrincipal(principal), host, permission),
    ];

    private static string CheckPrincipal(string principal) =>
        principal.IndexOf(':', StringComparison.Ordinal) > 0 ? principal : throw new AclUsageException($"A principal is Type:Name (User:alice), not '{principal}'.");
}
