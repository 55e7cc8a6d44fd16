using Levee.Broker.Cluster;

namespace Levee.Broker.Tests.Replication;

/// <summary>
/// Requests to the controller are bounded (found by tests/Levee.Faults: with the controller paused by SIGSTOP,
/// every other broker's heartbeat waited forever on its open connection, so the new controller fenced them all).
/// </summary>
public sealed class ControllerRequestTests
{
    [Fact]
    public async Task A_Request_That_Never_Answers_Times_Out()
    {
        using var leader = new CancellationTokenSource();
        var call = ControllerRequest.RunAsync(token => NeverAsync(token), TimeSpan.FromMilliseconds(100), TimeProvider.System, leader.Token, CancellationToken.None);

        var ex = await Assert.ThrowsAsync<TimeoutException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("did not answer", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Request_In_Flight_Is_Abandoned_When_The_Controller_Changes()
    {
        using var leader = new CancellationTokenSource();
        var call = ControllerRequest.RunAsync(token => NeverAsync(token), TimeSpan.FromMinutes(5), TimeProvider.System, leader.Token, CancellationToken.None);

        await leader.CancelAsync();

        var ex = await Assert.ThrowsAsync<TimeoutException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("controller changed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_Surfaces_As_Cancellation()
    {
        using var leader = new CancellationTokenSource();
        using var stopping = new CancellationTokenSource();
        var call = ControllerRequest.RunAsync(token => NeverAsync(token), TimeSpan.FromMinutes(5), TimeProvider.System, leader.Token, stopping.Token);

        await stopping.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static async Task<int> NeverAsync(CancellationToken token)
    {
        await Task.Delay(Timeout.Infinite, token);
        return 0;
    }
}
