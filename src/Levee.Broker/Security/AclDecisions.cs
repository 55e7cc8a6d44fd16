using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Broker.Security;

/// <summary>The answer for one ACL of a CreateAcls request, or for one filter of a DeleteAcls request.</summary>
/// <param name="Error">Kafka's error code, NONE when it took effect.</param>
/// <param name="Message">The error message, when there is an error.</param>
/// <param name="Deleted">For a DeleteAcls filter: the ACLs it removed.</param>
public sealed record AclResult(ErrorCode Error, string? Message, IReadOnlyList<AccessControlEntryRecord> Deleted)
{
    /// <summary>Success with nothing deleted.</summary>
    public static AclResult Ok { get; } = new(ErrorCode.None, null, []);

    /// <summary>A refusal.</summary>
    public static AclResult Fail(ErrorCode error, string message) => new(error, message, []);
}

/// <summary>
/// The controller's ACL decisions as pure functions of the metadata image (Kafka's AclControlManager): what a
/// CreateAcls or DeleteAcls request writes to the metadata log and what each of its entries is answered.
/// </summary>
public static class AclDecisions
{
    /// <summary>
    /// CreateAcls: each valid ACL not yet in the image (nor earlier in the request) becomes an
    /// <see cref="AccessControlEntryRecord"/> with the id it carries; an ACL already there succeeds without a record,
    /// as in Kafka; an invalid one is answered INVALID_REQUEST. More records than <see cref="AdminLimits.MaxRecordsPerUserOp"/>
    /// refuse the whole request with POLICY_VIOLATION.
    /// </summary>
    public static (Decision Decision, IReadOnlyList<AclResult> Results) Create(MetadataImage image, IReadOnlyList<AccessControlEntryRecord> acls, AdminLimits limits)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(acls);
        ArgumentNullException.ThrowIfNull(limits);
        var existing = image.Acls.Values.Select(WithoutId).ToHashSet();
        var records = new List<MetadataRecord>();
        var results = new List<AclResult>(acls.Count);
        foreach (var requested in acls)
        {
            if ((Invalid(requested) ?? InvalidForTenant(image, requested)) is { } problem)
            {
                results.Add(AclResult.Fail(ErrorCode.InvalidRequest, problem));
                continue;
            }

            var acl = requested with { Tenant = TenantOf(image, requested.Principal)?.Name };
            if (existing.Add(WithoutId(acl)))
            {
                records.Add(acl);
            }

            results.Add(AclResult.Ok);
        }

        if (limits.CheckRecords(records.Count, $"Creating {records.Count} ACLs") is { } tooMany)
        {
            return (tooMany, [.. acls.Select(_ => AclResult.Fail(tooMany.Error, tooMany.Message!))]);
        }

        return (Decision.Commit(records), results);
    }

    /// <summary>
    /// DeleteAcls: every ACL of the image a filter matches is removed (once, however many filters match it) and
    /// listed in that filter's result; a filter with an unknown code is answered INVALID_REQUEST. More records than
    /// <see cref="AdminLimits.MaxRecordsPerUserOp"/> refuse the whole request with POLICY_VIOLATION.
    /// </summary>
    public static (Decision Decision, IReadOnlyList<AclResult> Results) Delete(MetadataImage image, IReadOnlyList<AclFilter> filters, AdminLimits limits, string? tenant = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(filters);
        ArgumentNullException.ThrowIfNull(limits);
        var removed = new HashSet<Guid>();
        var records = new List<MetadataRecord>();
        var results = new List<AclResult>(filters.Count);
        foreach (var filter in filters)
        {
            if (!filter.IsKnown)
            {
                results.Add(AclResult.Fail(ErrorCode.InvalidRequest, AclFilter.UnknownMessage));
                continue;
            }

            var matched = Describe(image, filter, tenant);
            records.AddRange(matched.Where(acl => removed.Add(acl.Id)).Select(acl => new RemoveAccessControlEntryRecord(acl.Id)));
            results.Add(new AclResult(ErrorCode.None, null, matched));
        }

        if (limits.CheckRecords(records.Count, $"Deleting {records.Count} ACLs") is { } tooMany)
        {
            return (tooMany, [.. filters.Select(_ => AclResult.Fail(tooMany.Error, tooMany.Message!))]);
        }

        return (Decision.Commit(records), results);
    }

    /// <summary>
    /// The ACLs of the image <paramref name="filter"/> names, in a stable order (by resource, then principal): among
    /// all of them for an operator (<paramref name="tenant"/> null), among its own for a tenant.
    /// </summary>
    public static IReadOnlyList<AccessControlEntryRecord> Describe(MetadataImage image, AclFilter filter, string? tenant = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(filter);
        return [.. image.Acls.Values.Where(acl => (tenant is null || acl.Tenant == tenant) && filter.Matches(acl))
            .OrderBy(a => a.ResourceType).ThenBy(a => a.ResourceName, StringComparer.Ordinal).ThenBy(a => a.PatternType)
            .ThenBy(a => a.Principal, StringComparer.Ordinal).ThenBy(a => a.Host, StringComparer.Ordinal).ThenBy(a => a.Operation).ThenBy(a => a.PermissionType)];
    }

    /// <summary>Why Kafka refuses to create <paramref name="acl"/> (INVALID_REQUEST), or null when it is valid.</summary>
    public static string? Invalid(AccessControlEntryRecord acl)
    {
        ArgumentNullException.ThrowIfNull(acl);
        var type = (AclResourceType)acl.ResourceType;
        return type is AclResourceType.Any || !Enum.IsDefined(type) ? $"Invalid resourceType {acl.ResourceType}"
            : (AclPatternType)acl.PatternType is not (AclPatternType.Literal or AclPatternType.Prefixed) ? $"Invalid patternType {acl.PatternType}"
            : (AclOperation)acl.Operation is AclOperation.Any || !Enum.IsDefined((AclOperation)acl.Operation) ? $"Invalid operation {acl.Operation}"
            : (AclPermissionType)acl.PermissionType is not (AclPermissionType.Allow or AclPermissionType.Deny) ? $"Invalid permissionType {acl.PermissionType}"
            : string.IsNullOrEmpty(acl.ResourceName) ? "Invalid empty resource name specified."
            : type == AclResourceType.Cluster && acl.ResourceName != AclAuthorizer.ClusterResourceName ? $"The only valid name for the CLUSTER resource is {AclAuthorizer.ClusterResourceName}"
            : acl.Principal.IndexOf(':', StringComparison.Ordinal) <= 0 ? $"Could not parse principal from `{acl.Principal}` (no colon is present separating the principal type from the principal name)"
            : string.IsNullOrEmpty(acl.Host) ? "Invalid empty host specified."
            : null;
    }

    /// <summary>
    /// The tenant whose ACL one naming <paramref name="principal"/> is: the tenant of a user bound to one, or the tenant
    /// its wildcard principal (<c>Tenant:NAME</c>) names. Such an ACL applies to that tenant's principals only.
    /// </summary>
    public static Tenant? TenantOf(MetadataImage image, string principal)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(principal);
        var colon = principal.IndexOf(':', StringComparison.Ordinal);
        var (type, name) = colon < 0 ? ("", principal) : (principal[..colon], principal[(colon + 1)..]);
        return type switch
        {
            TenantPrincipalType => image.Tenants.Tenants.GetValueOrDefault(name),
            "User" => image.Tenants.OfUser(name),
            _ => null,
        };
    }

    private const string TenantPrincipalType = "Tenant";

    // An ACL of a tenant's principal names the tenant's own topics, groups or transactional ids, or the cluster.
    private static string? InvalidForTenant(MetadataImage image, AccessControlEntryRecord acl)
    {
        var tenant = TenantOf(image, acl.Principal);
        if (tenant is null)
        {
            return acl.Principal.StartsWith(TenantPrincipalType + ":", StringComparison.Ordinal) ? $"Principal {acl.Principal} names no tenant." : null;
        }

        return (AclResourceType)acl.ResourceType switch
        {
            AclResourceType.Cluster => null,
            AclResourceType.Topic or AclResourceType.Group or AclResourceType.TransactionalId =>
                acl.ResourceName.StartsWith(tenant.Prefix, StringComparison.Ordinal) ? null
                    : $"{acl.Principal} is a principal of tenant {tenant.Name}: its ACLs name only the tenant's resources, whose names start with {tenant.Prefix}",
            _ => $"{acl.Principal} is a principal of tenant {tenant.Name}: its ACLs name topics, groups, transactional ids or the cluster.",
        };
    }

    private static AccessControlEntryRecord WithoutId(AccessControlEntryRecord acl) => acl with { Id = Guid.Empty };
}
