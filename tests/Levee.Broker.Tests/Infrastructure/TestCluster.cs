using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Levee.Broker.Tests.Infrastructure;

/// <summary>
/// Real brokers in this process forming one cluster: each a voter of the metadata quorum on its
/// own free port, with its own temporary data directory. Started concurrently, since each start
/// completes only once a quorum has formed and the controller has unfenced it.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    /// <summary>
    /// A broker's stop is bounded (controlled shutdown 10 s, Kestrel's shutdown 30 s, leaving the quorum 10 s):
    /// one that takes longer than this fails the test, naming the broker, instead of hanging the run.
    /// </summary>
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(90);

    private readonly List<string> _dirs;
    private readonly Dictionary<int, BrokerOptions> _stopped = [];

    private TestCluster(LeveeBroker?[] brokers, List<string> dirs)
    {
        Brokers = brokers;
        _dirs = dirs;
    }

    /// <summary>The brokers by index (node id - 1); null once stopped.</summary>
    public LeveeBroker?[] Brokers { get; }

    /// <summary>Bootstrap servers of every running broker.</summary>
    public string BootstrapServers => string.Join(',', Brokers.Where(b => b is not null).Select(b => b!.BootstrapServers));

    public static async Task<TestCluster> StartAsync(int size, Func<BrokerOptions, BrokerOptions>? configure = null)
    {
        var quorumPorts = Enumerable.Range(0, size).Select(_ => FreePort()).ToArray();
        var voters = string.Join(',', quorumPorts.Select((p, i) => string.Create(CultureInfo.InvariantCulture, $"{i + 1}@127.0.0.1:{p}")));
        var dirs = new List<string>();
        var starts = Enumerable.Range(1, size).Select(id =>
        {
            var dir = Path.Combine(Path.GetTempPath(), "levee-test-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            dirs.Add(dir);
            var options = new BrokerOptions { NodeId = id, DataDir = dir, Port = 0, QuorumVoters = voters };
            return LeveeBroker.StartAsync(configure?.Invoke(options) ?? options);
        }).ToArray();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var brokers = await Task.WhenAll(starts).WaitAsync(deadline.Token);
        return new TestCluster(brokers, dirs);
    }

    /// <summary>Starts a broker stopped by <see cref="StopAsync"/> again on its data directory, with its options.</summary>
    public async Task RestartAsync(int nodeId)
    {
        if (Brokers[nodeId - 1] is not null || !_stopped.Remove(nodeId, out var options))
        {
            throw new InvalidOperationException($"broker {nodeId} was not stopped");
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Brokers[nodeId - 1] = await LeveeBroker.StartAsync(options, cancellationToken: deadline.Token);
    }

    /// <summary>Stops one broker cleanly (controlled shutdown).</summary>
    public async Task StopAsync(int nodeId)
    {
        var broker = Brokers[nodeId - 1] ?? throw new InvalidOperationException($"broker {nodeId} is not running");
        Brokers[nodeId - 1] = null;
        _stopped[nodeId] = broker.Options;
        await StopBoundedAsync(broker);
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(Brokers.Where(b => b is not null).Select(b => StopBoundedAsync(b!)));
        foreach (var dir in _dirs)
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temp directory left behind does no harm.
            }
        }
    }

    private static async Task StopBoundedAsync(LeveeBroker broker)
    {
        try
        {
            await broker.DisposeAsync().AsTask().WaitAsync(StopDeadline);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"Broker {broker.Identity.NodeId} did not stop within {StopDeadline.TotalSeconds:0} s.", ex);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
