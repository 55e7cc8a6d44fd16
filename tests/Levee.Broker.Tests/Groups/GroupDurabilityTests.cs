using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using static Levee.Broker.Tests.Groups.GroupTestSupport;

namespace Levee.Broker.Tests.Groups;

public sealed class GroupDurabilityTests
{
    [Fact]
    public async Task BrokerRestart_StableGroupComesBackWithItsGenerationMembersAndAssignment()
    {
        await using var broker = await TestBroker.StartAsync(o => Quick(o) with { GroupInitialRebalanceDelayMs = 0 });
        await CreateTopicAsync(broker.BootstrapServers, "t", 2);
        JoinGroupResponseSnapshot before;
        using (var raw = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            var joined = await raw.JoinAsync("kept", "t");
            Assert.Equal(0, (await raw.SyncAsync("kept", joined.GenerationId, joined.MemberId, (joined.MemberId, [9, 8, 7]))).ErrorCode);
            Assert.Equal(ErrorCode.None, await raw.CommitAsync("kept", joined.GenerationId, joined.MemberId, "t", 1, 33));
            before = new JoinGroupResponseSnapshot(joined.MemberId, joined.GenerationId);
        }

        await broker.RestartAsync();

        using (var raw = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            var described = await raw.DescribeAsync("kept");
            Assert.Equal("Stable", described.GroupState);
            Assert.Equal("range", described.ProtocolData);
            var member = Assert.Single(described.Members);
            Assert.Equal(before.MemberId, member.MemberId);
            Assert.Equal(new byte[] { 9, 8, 7 }, member.MemberAssignment);
            Assert.Equal(ErrorCode.None, await raw.HeartbeatAsync("kept", before.GenerationId, before.MemberId));
            Assert.Equal(33, await raw.FetchCommittedAsync("kept", "t", 1));
        }
    }

    private sealed record JoinGroupResponseSnapshot(string MemberId, int GenerationId);
}
