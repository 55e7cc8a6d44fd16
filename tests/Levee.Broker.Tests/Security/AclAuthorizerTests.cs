using Levee.Broker.Security;
using Levee.Cluster.Metadata;

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

    private static MetadataImage Image(params AccessControlEntryRecord[] acls) => MetadataImage.Empty.Apply(acls);

    private static AccessControlEntryRecord Acl(string name, AclPatternType pattern, string principal, AclOperation operation, AclPermissionType permission, AclResourceType type = AclResourceType.Topic, string host = "*") =>
        new(Guid.NewGuid(), (sbyte)type, name, (sbyte)pattern, principal, host, (sbyte)operation, (sbyte)permission);
}
