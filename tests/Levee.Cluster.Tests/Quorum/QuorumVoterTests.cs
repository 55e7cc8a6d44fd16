using Levee.Cluster.Quorum;

namespace Levee.Cluster.Tests.Quorum;

public sealed class QuorumVoterTests
{
    [Fact]
    public void ParseList_ReadsKafkasVoterSyntax()
    {
        var voters = QuorumVoter.ParseList("1@127.0.0.1:19093, 2@127.0.0.1:19094,3@[::1]:19095");

        Assert.Equal([1, 2, 3], voters.Select(v => v.Id));
        Assert.Equal("127.0.0.1:19094", voters[1].EndPoint.ToString());
        Assert.Equal(19095, voters[2].EndPoint.Port);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1@127.0.0.1")]
    [InlineData("x@127.0.0.1:9093")]
    [InlineData("1@127.0.0.1:9093,1@127.0.0.1:9094")]
    [InlineData("1@127.0.0.1:9093,2@127.0.0.1:9093")]
    public void ParseList_RefusesMalformedLists(string voters) => Assert.Throws<FormatException>(() => QuorumVoter.ParseList(voters));

    [Fact]
    public void DeriveClusterId_IsAKafkaUuid_TheSameForTheSameVotersInAnyOrder()
    {
        var a = QuorumVoter.DeriveClusterId(QuorumVoter.ParseList("1@127.0.0.1:19093,2@127.0.0.1:19094,3@127.0.0.1:19095"));
        var b = QuorumVoter.DeriveClusterId(QuorumVoter.ParseList("3@127.0.0.1:19095,1@127.0.0.1:19093,2@127.0.0.1:19094"));
        var other = QuorumVoter.DeriveClusterId(QuorumVoter.ParseList("1@127.0.0.1:19093,2@127.0.0.1:19094,3@127.0.0.1:19096"));

        Assert.Equal(a, b);
        Assert.NotEqual(a, other);
        Assert.Equal(22, a.Length);
        Assert.Equal(16, Convert.FromBase64String(a.Replace('-', '+').Replace('_', '/') + "==").Length);
    }
}
