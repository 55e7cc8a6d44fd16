using System.Text.RegularExpressions;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tenants;

/// <summary>
/// A tenant's private namespace: its clients use plain names (<c>orders</c>), the broker stores them under the
/// tenant's prefix (<c>acme.orders</c>). <see cref="Inbound"/> maps a request's names in, <see cref="Outbound"/> maps a
/// response's names back and hides every name outside the namespace (another tenant's, an internal topic), so a
/// tenant can neither name nor see anything else: a name it sends always lands in its own namespace.
/// </summary>
public sealed partial class TenantNamespace
{
    private readonly Regex _prefixInText;

    /// <summary>The namespace of <paramref name="tenant"/>.</summary>
    public TenantNamespace(Tenant tenant)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        Tenant = tenant;
        Prefix = tenant.Prefix;
        // The prefix where a stored name starts in a message: not inside another name ("x.acme.y" keeps its "acme.").
        _prefixInText = new Regex("(?<![A-Za-z0-9._-])" + Regex.Escape(Prefix), RegexOptions.CultureInvariant);
        Inbound = new InboundMap(this);
        Outbound = new OutboundMap(this);
        Acls = AclAuthorizer.ForTenant(tenant.Name);
        WildcardPrincipal = AclAuthorizer.TenantWildcardPrincipal(tenant.Name);
    }

    /// <summary>The authorizer of the tenant's own ACLs, which decide within its namespace.</summary>
    public AclAuthorizer Acls { get; }

    /// <summary>How the tenant's <c>User:*</c> is stored in its ACLs.</summary>
    public string WildcardPrincipal { get; }

    /// <summary>The tenant.</summary>
    public Tenant Tenant { get; }

    /// <summary>What every stored name of the tenant starts with.</summary>
    public string Prefix { get; }

    /// <summary>Maps a request's names into the namespace.</summary>
    public IEntityNameMap Inbound { get; }

    /// <summary>Maps a response's names out of the namespace, hiding names outside it.</summary>
    public IEntityNameMap Outbound { get; }

    /// <summary>The stored name of <paramref name="name"/>.</summary>
    public string ToStored(string name) => Prefix + name;

    /// <summary>Whether <paramref name="stored"/> is in the namespace.</summary>
    public bool Owns(string stored) => stored.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The name the tenant uses for <paramref name="stored"/> (unchanged when it is not in the namespace).</summary>
    public string ToTenant(string stored) => Owns(stored) ? stored[Prefix.Length..] : stored;

    /// <summary>
    /// The stored form of a resource pattern the tenant names in an ACL or an ACL filter: a topic, group or
    /// transactional id (or any type) is named in the namespace, and the literal wildcard <c>*</c>, every such
    /// resource of the tenant, becomes the prefixed pattern of the namespace itself; the cluster is the cluster.
    /// </summary>
    public (string? Name, sbyte PatternType) ToStoredAcl(sbyte resourceType, string? name, sbyte patternType) =>
        name is null || !NamesAResource(resourceType) ? (name, patternType)
        : name == "*" && patternType != (sbyte)AclPatternType.Prefixed ? (Prefix, patternType == (sbyte)AclPatternType.Literal ? (sbyte)AclPatternType.Prefixed : patternType)
        : (ToStored(name), patternType);

    /// <summary>The form the tenant sees of a stored ACL's resource pattern (the inverse of <see cref="ToStoredAcl"/>).</summary>
    public (string Name, sbyte PatternType) ToTenantAcl(sbyte resourceType, string name, sbyte patternType) =>
        !NamesAResource(resourceType) ? (name, patternType)
        : name == Prefix && patternType == (sbyte)AclPatternType.Prefixed ? ("*", (sbyte)AclPatternType.Literal)
        : (ToTenant(name), patternType);

    /// <summary>The principal the tenant sees for a stored ACL's: its wildcard is <c>User:*</c> again.</summary>
    public string ToTenantPrincipal(string stored) => stored == WildcardPrincipal ? "User:*" : stored;

    private static bool NamesAResource(sbyte resourceType) =>
        (AclResourceType)resourceType is AclResourceType.Any or AclResourceType.Topic or AclResourceType.Group or AclResourceType.TransactionalId;

    private sealed class InboundMap(TenantNamespace owner) : IEntityNameMap
    {
        public string Map(EntityKind kind, string name) => owner.ToStored(name);

        public bool IsVisible(EntityKind kind, string name) => true;

        public string? MapMessage(string? message) => message;
    }

    private sealed class OutboundMap(TenantNamespace owner) : IEntityNameMap
    {
        public string Map(EntityKind kind, string name) => owner.ToTenant(name);

        // Empty: a response element named by id only (Fetch v13+, Metadata v12+ for an unknown id).
        public bool IsVisible(EntityKind kind, string name) => name.Length == 0 || owner.Owns(name);

        public string? MapMessage(string? message) => message is null ? null : owner._prefixInText.Replace(message, "");
    }
}
