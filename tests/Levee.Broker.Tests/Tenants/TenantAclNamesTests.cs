using CsCheck;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Tests.Tenants;

/// <summary>How a tenant's ACL resource patterns are stored: inside its namespace, meaning what they meant to it, and read back as written.</summary>
public sealed class TenantAclNamesTests
{
    private static readonly TenantNamespace Acme = new(new Tenant("acme", "basic-0", ["acme-1"]));

    [Fact]
    public void EveryPatternATenantWrites_IsStoredInItsNamespace_AppliesToTheSameResources_AndIsReadBackUnchanged()
    {
        var types = Gen.OneOf(Gen.Const(AclResourceType.Topic), Gen.Const(AclResourceType.Group), Gen.Const(AclResourceType.TransactionalId));
        var patterns = Gen.OneOf(Gen.Const(AclPatternType.Literal), Gen.Const(AclPatternType.Prefixed));
        var names = Gen.OneOf(Gen.String[Gen.Char["ab.-*"], 1, 6], Gen.Const("*"));
        Gen.Select(types, patterns, names, Gen.String[Gen.Char["ab.-"], 1, 8]).Sample((type, pattern, name, resource) =>
        {
            var (stored, storedPattern) = Acme.ToStoredAcl((sbyte)type, name, (sbyte)pattern);
            Assert.StartsWith("acme.", stored, StringComparison.Ordinal);
            Assert.Equal(
                AclAuthorizer.NameMatches(Acl(type, name, (sbyte)pattern), resource),
                AclAuthorizer.NameMatches(Acl(type, stored!, storedPattern), "acme." + resource));
            Assert.Equal((name, (sbyte)pattern), Acme.ToTenantAcl((sbyte)type, stored!, storedPattern));
        });
    }

    [Fact]
    public void TheWildcard_IsEveryResourceOfTheTenant_TheClusterIsTheCluster_AndUserStarIsTheTenantsPrincipals()
    {
        Assert.Equal(("acme.", (sbyte)AclPatternType.Prefixed), Acme.ToStoredAcl((sbyte)AclResourceType.Topic, "*", (sbyte)AclPatternType.Literal));
        Assert.Equal(("kafka-cluster", (sbyte)AclPatternType.Literal), Acme.ToStoredAcl((sbyte)AclResourceType.Cluster, "kafka-cluster", (sbyte)AclPatternType.Literal));
        Assert.Equal(((string?)null, (sbyte)AclPatternType.Any), Acme.ToStoredAcl((sbyte)AclResourceType.Any, null, (sbyte)AclPatternType.Any));
        Assert.Equal("Tenant:acme", Acme.WildcardPrincipal);
        Assert.Equal("User:*", Acme.ToTenantPrincipal(Acme.WildcardPrincipal));
        Assert.Equal("User:acme-1", Acme.ToTenantPrincipal("User:acme-1"));
    }

    private static AccessControlEntryRecord Acl(AclResourceType type, string name, sbyte pattern) =>
        new(Guid.Empty, (sbyte)type, name, pattern, "User:acme-1", "*", (sbyte)AclOperation.Read, (sbyte)AclPermissionType.Allow);
}
