using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>`levee quotas` against a started `levee serve`, with kafka-configs.sh's entity options.</summary>
public sealed class QuotasCliTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync();

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task SetListRemove()
    {
        var set = await RunAsync("set", "--user", "alice", "--config", "producer_byte_rate=65536", "--config", "consumer_byte_rate=262144");
        Assert.True(set.ExitCode == 0, set.StdErr + set.StdOut);
        var defaults = await RunAsync("set", "--user", "alice", "--client-id-defaults", "--config", "request_percentage=50");
        Assert.True(defaults.ExitCode == 0, defaults.StdErr + defaults.StdOut);

        var all = await RunAsync("list");
        Assert.Contains("Quota configs for user 'alice' are consumer_byte_rate=262144, producer_byte_rate=65536", all.StdOut, StringComparison.Ordinal);
        Assert.Contains("Quota configs for user 'alice', client-id '<default>' are request_percentage=50", all.StdOut, StringComparison.Ordinal);

        var removed = await RunAsync("remove", "--user", "alice", "--config", "producer_byte_rate");
        Assert.True(removed.ExitCode == 0, removed.StdErr + removed.StdOut);
        var alice = await RunAsync("list", "--user", "alice");
        Assert.Contains("Quota configs for user 'alice' are consumer_byte_rate=262144", alice.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("producer_byte_rate", alice.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidQuotas_AreRefusedWithKafkasMessage_AndExitCode2()
    {
        var zero = await RunAsync("set", "--user", "bob", "--config", "producer_byte_rate=0");
        Assert.Equal(2, zero.ExitCode);
        Assert.Contains("must be a positive number", zero.StdErr, StringComparison.Ordinal);

        var unknown = await RunAsync("set", "--client-id", "app", "--config", "bananas=1");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("Invalid configuration key bananas", unknown.StdErr, StringComparison.Ordinal);

        var noEntity = await RunAsync("set", "--config", "producer_byte_rate=1");
        Assert.Equal(2, noEntity.ExitCode);
        Assert.Equal("No quotas.", (await RunAsync("list")).StdOut.Trim());
    }

    private Task<Tool.Result> RunAsync(params string[] args)
    {
        var levee = Path.Combine(AppContext.BaseDirectory, "levee.dll");
        return Tool.RunAsync("dotnet", [levee, "quotas", .. args, "--bootstrap", _levee.BootstrapServers], timeout: TimeSpan.FromSeconds(90));
    }
}
