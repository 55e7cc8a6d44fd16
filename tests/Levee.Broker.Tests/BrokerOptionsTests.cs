namespace Levee.Broker.Tests;

public sealed class BrokerOptionsTests
{
    private const string Voters = "1@127.0.0.1:19093,2@127.0.0.1:19094,3@127.0.0.1:19095";

    [Fact]
    public void NodesOfOneQuorum_WithoutClusterId_AgreeOnOne()
    {
        var ids = Enumerable.Range(1, 3).Select(node => new BrokerOptions { NodeId = node, QuorumVoters = Voters }.ResolveClusterId()).ToList();

        Assert.NotNull(ids[0]);
        Assert.All(ids, id => Assert.Equal(ids[0], id));
    }

    [Fact]
    public void AGivenClusterId_Wins_AndALoneBrokerGeneratesItsOwn()
    {
        Assert.Equal("abc", new BrokerOptions { QuorumVoters = Voters, ClusterId = "abc" }.ResolveClusterId());
        Assert.Null(new BrokerOptions().ResolveClusterId());
        Assert.Null(new BrokerOptions { QuorumVoters = "1@127.0.0.1:19093" }.ResolveClusterId());
    }
}
