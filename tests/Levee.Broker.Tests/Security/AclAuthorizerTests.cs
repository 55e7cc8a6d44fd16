using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;

namespace Levee.Broker.Tests.Security;

public sealed class AclAuthorizerTests
{
    private static readonly AclAuthorizer Strict = new(new HashSet<string> { "User:admin" }, allowEveryoneIfNoAclFound: false);

    [Fact]
    public void ReadOnAPrefix_AllowsReadAndDescribeOfThoseTopics_AndNothingElse()
    {
        var image = Image(Acl("orders-", AclPatternType.Prefixed, "User:alice", AclOperation.Read, AclPermissionType.Allow));

        Assert.True(Strict.Authorize(image, "User:alice", "10.0.0.1", AclOperation.Read, AclResourceType.Topic, "orders-eu"));
        Assert.True(Strict.Authorize(image, "User:alice", "10.0.0.1", AclOperation.Describe, AclResourceType.Topic, "orders-eu"));
        Assert.False(Strict.Authorize(image, "User:alice", "10.0.0.1", AclOperation.Write, AclResourceType.Topic, "orders-eu"));
        Assert.False(Strict.Authorize(image, "User:alice", "10.0.0.1", AclOperation.Read, AclResourceType.Topic, "payments"));
        Assert.False(Strict.Authorize(image, "User:alice", "10.0.0.1", AclOperation.Read, AclResourceType.Group, "orders-eu"));
        Assert.False(Strict.Authorize(image, "User:bob", "10.0.0.1", AclOperation.Read, AclResourceType.Topic, "orders-eu"));
    }

    [Fact]
    public void ADeny_OverridesAnAllow_ButADeniedReadStillLeavesDescribe()
    {
        var image = Image(
            Acl("*", AclPatternType.Literal, "User:*", AclOperation.All, AclPermissionType.Allow),
            Acl("secret", AclPatternType.Literal, "User:alice", AclOperation.Read, AclPermissionType.Deny));

        Assert.False(Strict.Authorize(image, "User:alice", "h", AclOperation.Read, AclResourceType.Topic, "secret"));
        Assert.True(Strict.Authorize(image, "User:alice", "h", AclOperation.Describe, AclResourceType.Topic, "secret"));
        Assert.True(Strict.Authorize(image, "User:bob", "h", AclOperation.Read, AclResourceType.Topic, "secret"));
        Assert.True(Strict.Authorize(image, "User:alice", "h", AclOperation.Write, AclResourceType.Topic, "other"));
    }

    [Fact]
    public void AHostOtherThanTheAclsHost_IsNotAllowed()
    {
        var image = Image(Acl("t", AclPatternType.Literal, "User:alice", AclOperation.Write, AclPermissionType.Allow, host: "10.0.0.1"));

        Assert.True(Strict.Authorize(image, "User:alice", "10.0.0.1", AclOperation.Write, AclResourceType.Topic, "t"));
        Assert.False(Strict.Authorize(image, "User:alice", "10.0.0.2", AclOperation.Write, AclResourceType.Topic, "t"));
    }

    [Fact]
    public void NoAclOnAResource_FollowsAllowEveryoneIfNoAclFound_AndSuperUsersMayAlways()
    {
        var image = Image(Acl("guarded", AclPatternType.Literal, "User:alice", AclOperation.Read, AclPermissionType.Allow));
        var lenient = new AclAuthorizer(new HashSet<string>(), allowEveryoneIfNoAclFound: true);

        Assert.True(lenient.Authorize(image, "User:bob", "h", AclOperation.Write, AclResourceType.Topic, "unguarded"));
        Assert.False(lenient.Authorize(image, "User:bob", "h", AclOperation.Read, AclResourceType.Topic, "guarded"));
        Assert.False(Strict.Authorize(image, "User:bob", "h", AclOperation.Write, AclResourceType.Topic, "unguarded"));
        Assert.True(Strict.Authorize(image, "User:admin", "h", AclOperation.Alter, AclResourceType.Cluster, AclAuthorizer.ClusterResourceName));
    }

    [Fact]
    public void AlterConfigs_ImpliesDescribeConfigs_AndAllCoversEveryOperation()
    {
        var image = Image(
            Acl("t", AclPatternType.Literal, "User:ops", AclOperation.AlterConfigs, AclPermissionType.Allow),
            Acl("g", AclPatternType.Literal, "User:ops", AclOperation.All, AclPermissionType.Allow, AclResourceType.Group));

        Assert.True(Strict.Authorize(image, "User:ops", "h", AclOperation.DescribeConfigs, AclResourceType.Topic, "t"));
        Assert.False(Strict.Authorize(image, "User:ops", "h", AclOperation.Describe, AclResourceType.Topic, "t"));
        Assert.All(Enum.GetValues<AclOperation>().Where(o => o > AclOperation.All), o => Assert.True(Strict.Authorize(image, "User:ops", "h", o, AclResourceType.Group, "g")));
    }

    [Fact]
    public void AuthorizeByResourceType_NeedsAnAllowNotCoveredByADeny()
    {
        var allowOrders = Acl("orders-", AclPatternType.Prefixed, "User:alice", AclOperation.Write, AclPermissionType.Allow);
        Assert.True(Strict.AuthorizeByResourceType(Image(allowOrders), "User:alice", "h", AclOperation.Write, AclResourceType.Topic));
        Assert.False(Strict.AuthorizeByResourceType(Image(allowOrders), "User:alice", "h", AclOperation.Read, AclResourceType.Topic));
        Assert.False(Strict.AuthorizeByResourceType(Image(allowOrders), "User:bob", "h", AclOperation.Write, AclResourceType.Topic));
        Assert.True(Strict.AuthorizeByResourceType(Image(), "User:admin", "h", AclOperation.Write, AclResourceType.Topic));

        // A prefixed DENY covering the allowed prefix, or a literal "*" DENY, leaves nothing allowed.
        Assert.False(Strict.AuthorizeByResourceType(Image(allowOrders, Acl("ord", AclPatternType.Prefixed, "User:alice", AclOperation.Write, AclPermissionType.Deny)), "User:alice", "h", AclOperation.Write, AclResourceType.Topic));
        Assert.False(Strict.AuthorizeByResourceType(Image(allowOrders, Acl("*", AclPatternType.Literal, "User:*", AclOperation.All, AclPermissionType.Deny)), "User:alice", "h", AclOperation.Write, AclResourceType.Topic));

        // A DENY of one topic leaves the rest of the prefix.
        Assert.True(Strict.AuthorizeByResourceType(Image(allowOrders, Acl("orders-1", AclPatternType.Literal, "User:alice", AclOperation.Write, AclPermissionType.Deny)), "User:alice", "h", AclOperation.Write, AclResourceType.Topic));
    }

    [Fact]
    public void Filters_MatchAnyAndMatchAsKafka()
    {
        var literal = Acl("orders", AclPatternType.Literal, "User:alice", AclOperation.Read, AclPermissionType.Allow);
        var prefixed = Acl("orders-", AclPatternType.Prefixed, "User:alice", AclOperation.Write, AclPermissionType.Allow);
        var wildcard = Acl("*", AclPatternType.Literal, "User:bob", AclOperation.Read, AclPermissionType.Deny);
        var image = Image(literal, prefixed, wildcard);

        // Listed by resource type, then name: "*" first.
        Assert.Equal([wildcard, prefixed], AclDecisions.Describe(image, Filter("orders-eu", AclPatternType.Match)));
        Assert.Equal([wildcard, literal], AclDecisions.Describe(image, Filter("orders", AclPatternType.Match)));
        Assert.Equal([prefixed], AclDecisions.Describe(image, Filter("orders-", AclPatternType.Any)));
        Assert.Equal([wildcard, literal], AclDecisions.Describe(image, Filter(null, AclPatternType.Literal)));
        Assert.Equal([wildcard], AclDecisions.Describe(image, Filter(null, AclPatternType.Any) with { PermissionType = AclPermissionType.Deny }));
        Assert.False((Filter(null, AclPatternType.Any) with { Operation = (AclOperation)42 }).IsKnown);
    }

    [Fact]
    public void Create_SkipsWhatExists_RefusesTheInvalid_AndIsBoundedWhole()
    {
        var existing = Acl("t", AclPatternType.Literal, "User:alice", AclOperation.Read, AclPermissionType.Allow);
        var image = Image(existing);
        var again = existing with { Id = Guid.NewGuid() };
        var fresh = Acl("u", AclPatternType.Literal, "User:alice", AclOperation.Read, AclPermissionType.Allow);
        var badCluster = Acl("my-cluster", AclPatternType.Literal, "User:alice", AclOperation.Alter, AclPermissionType.Allow, AclResourceType.Cluster);
        var matchPattern = fresh with { Id = Guid.NewGuid(), PatternType = (sbyte)AclPatternType.Match };

        var (decision, results) = AclDecisions.Create(image, [again, fresh, fresh with { Id = Guid.NewGuid() }, badCluster, matchPattern], AdminLimits.Default);

        Assert.Equal<MetadataRecord>([fresh], decision.Records);
        Assert.Equal([ErrorCode.None, ErrorCode.None, ErrorCode.None, ErrorCode.InvalidRequest, ErrorCode.InvalidRequest], results.Select(r => r.Error));
        var (bounded, refusals) = AclDecisions.Create(image, [fresh, badCluster with { ResourceName = "kafka-cluster" }], AdminLimits.Default with { MaxRecordsPerUserOp = 1 });
        Assert.Equal(ErrorCode.PolicyViolation, bounded.Error);
        Assert.All(refusals, r => Assert.Equal(ErrorCode.PolicyViolation, r.Error));
    }

    [Fact]
    public void Delete_RemovesEachMatchOnce_AndListsItPerFilter()
    {
        var a = Acl("orders-", AclPatternType.Prefixed, "User:alice", AclOperation.Write, AclPermissionType.Allow);
        var b = Acl("payments", AclPatternType.Literal, "User:alice", AclOperation.Read, AclPermissionType.Allow);
        var image = Image(a, b);

        var (decision, results) = AclDecisions.Delete(image, [Filter("orders-x", AclPatternType.Match), Filter(null, AclPatternType.Any), Filter(null, AclPatternType.Any) with { ResourceType = (AclResourceType)99 }], AdminLimits.Default);

        Assert.Equal(new[] { a.Id, b.Id }.Order(), decision.Records.Cast<RemoveAccessControlEntryRecord>().Select(r => r.Id).Order());
        Assert.Equal([a], results[0].Deleted);
        Assert.Equal(2, results[1].Deleted.Count);
        Assert.Equal(ErrorCode.InvalidRequest, results[2].Error);
        Assert.Empty(image.Apply(decision.Records).Acls);
    }

    [Fact]
    public void ATenantsAcls_ApplyToItsOwnPrincipalsOnly_AndTheOperatorsNeverToATenant()
    {
        var image = Image(
            Acl("*", AclPatternType.Literal, "User:*", AclOperation.All, AclPermissionType.Allow),
            Acl("acme.", AclPatternType.Prefixed, "Tenant:acme", AclOperation.Read, AclPermissionType.Allow) with { Tenant = "acme" },
            Acl("acme.orders", AclPatternType.Literal, "User:acme-2", AclOperation.Write, AclPermissionType.Deny) with { Tenant = "acme" });
        var acme = AclAuthorizer.ForTenant("acme");

        // The operators' wildcard ALLOW does not let acme-2 write; acme's DENY does not stop an operator's principal.
        Assert.False(acme.Authorize(image, "User:acme-2", "h", AclOperation.Write, AclResourceType.Topic, "acme.orders"));
        Assert.True(Strict.Authorize(image, "User:ops", "h", AclOperation.Write, AclResourceType.Topic, "acme.orders"));
        // acme's wildcard principal is every principal of acme's; a resource none of its ACLs names is open to them.
        Assert.True(acme.Authorize(image, "User:acme-2", "h", AclOperation.Read, AclResourceType.Topic, "acme.orders"));
        Assert.False(acme.Authorize(image, "User:acme-1", "h", AclOperation.Write, AclResourceType.Topic, "acme.orders"));
        Assert.True(acme.Authorize(image, "User:acme-1", "h", AclOperation.Read, AclResourceType.Group, "acme.billing"));
        // Another tenant's scope holds none of acme's ACLs (nor the operators').
        Assert.True(AclAuthorizer.ForTenant("globex").Authorize(image, "User:globex-1", "h", AclOperation.Write, AclResourceType.Topic, "globex.orders"));
    }

    private static AclFilter Filter(string? name, AclPatternType pattern) =>
        new(AclResourceType.Topic, name, pattern, null, null, AclOperation.Any, AclPermissionType.Any);

    private static MetadataImage Image(params AccessControlEntryRecord[] acls) => MetadataImage.Empty.Apply(acls);

    private static AccessControlEntryRecord Acl(string name, AclPatternType pattern, string principal, AclOperation operation, AclPermissionType permission, AclResourceType type = AclResourceType.Topic, string host = "*") =>
        new(Guid.NewGuid(), (sbyte)type, name, (sbyte)pattern, principal, host, (sbyte)operation, (sbyte)permission);
}
