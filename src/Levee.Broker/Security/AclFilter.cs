using Levee.Cluster.Metadata;

namespace Levee.Broker.Security;

/// <summary>
/// Kafka's AclBindingFilter: which ACLs a DescribeAcls or DeleteAcls names. ANY (and a null name, principal or
/// host) matches everything; a pattern type of ANY matches stored ACLs of either pattern type by their exact name;
/// MATCH matches every ACL that would apply to the named resource: the literal name, the literal wildcard "*" and
/// every prefix of it.
/// </summary>
/// <param name="ResourceType">The resource type, or <see cref="AclResourceType.Any"/>.</param>
/// <param name="ResourceName">The resource name, or null for any.</param>
/// <param name="PatternType">Literal, prefixed, <see cref="AclPatternType.Any"/> or <see cref="AclPatternType.Match"/>.</param>
/// <param name="Principal">The principal, or null for any.</param>
/// <param name="Host">The host, or null for any.</param>
/// <param name="Operation">The operation, or <see cref="AclOperation.Any"/>.</param>
/// <param name="PermissionType">The permission, or <see cref="AclPermissionType.Any"/>.</param>
public sealed record AclFilter(AclResourceType ResourceType, string? ResourceName, AclPatternType PatternType, string? Principal, string? Host, AclOperation Operation, AclPermissionType PermissionType)
{
    /// <summary>The message of the INVALID_REQUEST a filter that is not <see cref="IsKnown"/> is answered.</summary>
    public const string UnknownMessage = "The filter contains an unknown resource type, pattern type, operation or permission type.";

    /// <summary>The filter that names exactly <paramref name="acl"/> (and any ACL equal to it but for its id).</summary>
    public static AclFilter Exact(AccessControlEntryRecord acl)
    {
        ArgumentNullException.ThrowIfNull(acl);
        return new((AclResourceType)acl.ResourceType, acl.ResourceName, (AclPatternType)acl.PatternType, acl.Principal, acl.Host, (AclOperation)acl.Operation, (AclPermissionType)acl.PermissionType);
    }

    /// <summary>Whether every field holds one of Kafka's codes (Kafka refuses a filter with an UNKNOWN element).</summary>
    public bool IsKnown =>
        Enum.IsDefined(ResourceType) && Enum.IsDefined(PatternType) && Enum.IsDefined(Operation) && Enum.IsDefined(PermissionType);

    /// <summary>Whether <paramref name="acl"/> is one this filter names.</summary>
    public bool Matches(AccessControlEntryRecord acl)
    {
        ArgumentNullException.ThrowIfNull(acl);
        return (ResourceType == AclResourceType.Any || (sbyte)ResourceType == acl.ResourceType)
            && PatternMatches(acl)
            && (Principal is null || Principal == acl.Principal)
            && (Host is null || Host == acl.Host)
            && (Operation == AclOperation.Any || (sbyte)Operation == acl.Operation)
            && (PermissionType == AclPermissionType.Any || (sbyte)PermissionType == acl.PermissionType);
    }

    private bool PatternMatches(AccessControlEntryRecord acl)
    {
        if (PatternType is not (AclPatternType.Any or AclPatternType.Match) && (sbyte)PatternType != acl.PatternType)
        {
            return false;
        }

        if (ResourceName is null)
        {
            return true;
        }

        return PatternType == AclPatternType.Match
            ? AclAuthorizer.NameMatches(acl, ResourceName)
            : ResourceName == acl.ResourceName;
    }
}
