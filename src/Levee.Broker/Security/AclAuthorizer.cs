using Levee.Cluster.Metadata;

namespace Levee.Broker.Security;

/// <summary>Kafka's resource types (ResourceType codes).</summary>
public enum AclResourceType : sbyte
{
    /// <summary>In filters: any type.</summary>
    Any = 1,

    /// <summary>A topic.</summary>
    Topic = 2,

    /// <summary>A consumer group.</summary>
    Group = 3,

    /// <summary>The cluster (name "kafka-cluster").</summary>
    Cluster = 4,

    /// <summary>A transactional id.</summary>
    TransactionalId = 5,

    /// <summary>A delegation token.</summary>
    DelegationToken = 6,

    /// <summary>A user (quotas, credentials).</summary>
    User = 7,
}

/// <summary>Kafka's ACL operations (AclOperation codes).</summary>
public enum AclOperation : sbyte
{
    /// <summary>In filters: any operation.</summary>
    Any = 1,

    /// <summary>Every operation.</summary>
    All = 2,

    /// <summary>Read (consume, commit offsets, join a group).</summary>
    Read = 3,

    /// <summary>Write (produce).</summary>
    Write = 4,

    /// <summary>Create (topics).</summary>
    Create = 5,

    /// <summary>Delete (topics, records, groups).</summary>
    Delete = 6,

    /// <summary>Alter (partitions, ACLs).</summary>
    Alter = 7,

    /// <summary>Describe (metadata, offsets, groups).</summary>
    Describe = 8,

    /// <summary>Broker-to-broker actions.</summary>
    ClusterAction = 9,

    /// <summary>Read configs.</summary>
    DescribeConfigs = 10,

    /// <summary>Change configs.</summary>
    AlterConfigs = 11,

    /// <summary>Idempotent produce (cluster level, before KIP-679).</summary>
    IdempotentWrite = 12,

    /// <summary>Create delegation tokens.</summary>
    CreateTokens = 13,

    /// <summary>Describe delegation tokens.</summary>
    DescribeTokens = 14,
}

/// <summary>Kafka's pattern types (PatternType codes).</summary>
public enum AclPatternType : sbyte
{
    /// <summary>In filters: any pattern type, matched as stored.</summary>
    Any = 1,

    /// <summary>In filters: every ACL that would apply to the named resource (literal, wildcard, prefixes).</summary>
    Match = 2,

    /// <summary>The name, exactly ("*" is every resource of the type).</summary>
    Literal = 3,

    /// <summary>Every resource whose name starts with the name.</summary>
    Prefixed = 4,
}

/// <summary>Kafka's permission types.</summary>
public enum AclPermissionType : sbyte
{
    /// <summary>In filters: either.</summary>
    Any = 1,

    /// <summary>Deny: wins over any allow.</summary>
    Deny = 2,

    /// <summary>Allow.</summary>
    Allow = 3,
}

/// <summary>
/// Kafka's standard authorization rules over the ACLs of a metadata image: super users may do anything; a
/// matching DENY refuses whatever ALLOWs match; a matching ALLOW permits (READ, WRITE, DELETE and ALTER imply
/// DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS; ALL is every operation); a resource no ACL names at all
/// follows <c>allow.everyone.if.no.acl.found</c>. An ACL applies to a resource when its type matches and its
/// name is the resource's, the literal wildcard "*", or a prefix of it (prefixed pattern); to a principal
/// when it names it or "User:*"; to a host when it names it or "*". One authorizer decides over one set of ACLs:
/// the operators' (<paramref name="tenant"/> null), or one tenant's own, which apply to its principals only and which
/// the operators' never see (<see cref="ForTenant"/>).
/// </summary>
public sealed class AclAuthorizer(IReadOnlySet<string> superUsers, bool allowEveryoneIfNoAclFound, string? tenant = null)
{
    /// <summary>The cluster resource's name, as Kafka names it.</summary>
    public const string ClusterResourceName = "kafka-cluster";

    /// <summary>
    /// The authorizer of <paramref name="tenantName"/>'s own ACLs: no super users, and a resource none of them names is
    /// allowed to every principal of the tenant (its namespace is its own until it restricts it).
    /// </summary>
    public static AclAuthorizer ForTenant(string tenantName) => new(new HashSet<string>(), allowEveryoneIfNoAclFound: true, tenantName);

    /// <summary>
    /// The principal that stands for every principal of <paramref name="tenantName"/> in its ACLs (a tenant writes
    /// <c>User:*</c>): a type no connection's principal has, so it means the same to operators reading the ACL.
    /// </summary>
    public static string TenantWildcardPrincipal(string tenantName) => "Tenant:" + tenantName;

    /// <summary>The ACLs this authorizer decides over: the operators' or its tenant's.</summary>
    public IEnumerable<AccessControlEntryRecord> Scope(MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return image.Acls.Values.Where(acl => acl.Tenant == tenant);
    }

    /// <summary>Whether <paramref name="principal"/> connecting from <paramref name="host"/> may perform <paramref name="operation"/> on the resource.</summary>
    public bool Authorize(MetadataImage image, string principal, string host, AclOperation operation, AclResourceType resourceType, string resourceName)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (superUsers.Contains(principal))
        {
            return true;
        }

        var anyAclOnResource = false;
        var allowed = false;
        foreach (var acl in Scope(image))
        {
            if (acl.ResourceType != (sbyte)resourceType || !NameMatches(acl, resourceName))
            {
                continue;
            }

            anyAclOnResource = true;
            if (!PrincipalMatches(acl.Principal, principal) || (acl.Host != "*" && acl.Host != host) || !OperationMatches((AclOperation)acl.Operation, operation, (AclPermissionType)acl.PermissionType))
            {
                continue;
            }

            if (acl.PermissionType == (sbyte)AclPermissionType.Deny)
            {
                return false;
            }

            allowed = true;
        }

        return allowed || (!anyAclOnResource && allowEveryoneIfNoAclFound);
    }

    /// <summary>
    /// Whether <paramref name="principal"/> may perform <paramref name="operation"/> on at least one resource of
    /// <paramref name="resourceType"/> (Kafka's authorizeByResourceType, which InitProducerId uses for WRITE on any
    /// topic): a super user, or a resource no ACL names while everyone is allowed then, or an ALLOW whose resources
    /// are not all covered by a DENY (a literal "*" DENY covers every resource; a prefixed DENY the names it starts).
    /// </summary>
    public bool AuthorizeByResourceType(MetadataImage image, string principal, string host, AclOperation operation, AclResourceType resourceType)
    {
        // A name no one would give a resource: whoever may act on it may act on something (super users included).
        if (Authorize(image, principal, host, operation, resourceType, tenant is null ? "hardcode" : TenantPrefix + "hardcode"))
        {
            return true;
        }

        var applicable = Scope(image).Where(acl => acl.ResourceType == (sbyte)resourceType
            && PrincipalMatches(acl.Principal, principal) && (acl.Host == "*" || acl.Host == host)
            && (acl.Operation == (sbyte)operation || acl.Operation == (sbyte)AclOperation.All)).ToList();
        var denies = applicable.Where(a => a.PermissionType == (sbyte)AclPermissionType.Deny).ToList();
        if (denies.Any(d => d.PatternType == (sbyte)AclPatternType.Literal && d.ResourceName == "*"))
        {
            return false;
        }

        return applicable.Where(a => a.PermissionType == (sbyte)AclPermissionType.Allow).Any(allow =>
            (allow.PatternType == (sbyte)AclPatternType.Literal && allow.ResourceName == "*")
            || !denies.Any(deny => deny.PatternType == (sbyte)AclPatternType.Prefixed
                ? allow.ResourceName.StartsWith(deny.ResourceName, StringComparison.Ordinal)
                : allow.PatternType == (sbyte)AclPatternType.Literal && deny.ResourceName == allow.ResourceName));
    }

    /// <summary>True when an ACL's name applies to the resource named <paramref name="resourceName"/>.</summary>
    public static bool NameMatches(AccessControlEntryRecord acl, string resourceName)
    {
        ArgumentNullException.ThrowIfNull(acl);
        return acl.PatternType == (sbyte)AclPatternType.Prefixed
            ? resourceName.StartsWith(acl.ResourceName, StringComparison.Ordinal)
            : acl.ResourceName == "*" || acl.ResourceName == resourceName;
    }

    // Within a tenant's scope every principal is the tenant's, so its wildcard principal matches them all.
    private string TenantPrefix => tenant + Tenant.Separator;

    private bool PrincipalMatches(string aclPrincipal, string principal) =>
        aclPrincipal == principal
        || (tenant is null
            ? aclPrincipal == "User:*" && principal.StartsWith("User:", StringComparison.Ordinal)
            : aclPrincipal == TenantWildcardPrincipal(tenant));

    // Kafka's implications apply to ALLOW only: a DENY of READ does not deny DESCRIBE.
    private static bool OperationMatches(AclOperation aclOperation, AclOperation wanted, AclPermissionType permission) =>
        aclOperation == AclOperation.All
        || aclOperation == wanted
        || (permission == AclPermissionType.Allow && wanted == AclOperation.Describe && aclOperation is AclOperation.Read or AclOperation.Write or AclOperation.Delete or AclOperation.Alter)
        || (permission == AclPermissionType.Allow && wanted == AclOperation.DescribeConfigs && aclOperation == AclOperation.AlterConfigs);
}
