using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Levee.Cluster.Quorum;

namespace Levee.Cluster.Tests.Quorum;

/// <summary>N in-process voters on loopback ephemeral ports, each with its own data directory under one temp dir.</summary>
internal sealed class TestQuorum : IAsyncDisposable
{
    private readonly MetadataQuorum?[] _nodes;
    private readonly int _snapshotInterval;

    public TestQuorum(int voters, int snapshotInterval = 1000)
    {
        Root = Path.Combine(Path.GetTempPath(), "levee-quorum-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        Voters = [.. FreePorts(voters).Select((port, i) => new QuorumVoter(i + 1, new IPEndPoint(IPAddress.Loopback, port)))];
        _nodes = new MetadataQuorum?[voters + 1];
        _snapshotInterval = snapshotInterval;
    }

    public string Root { get; }

    public IReadOnlyList<QuorumVoter> Voters { get; }

    public IEnumerable<MetadataQuorum> Running => _nodes.OfType<MetadataQuorum>();

    public MetadataQuorum this[int id] => _nodes[id] ?? throw new InvalidOperationException($"Node {id} is not running.");

    public string DataDirectory(int id) => Path.Combine(Root, "node-" + id);

    public async Task<MetadataQuorum> StartAsync(int id)
    {
        var node = new MetadataQuorum(new MetadataQuorumOptions
        {
            NodeId = id,
            Voters = Voters,
            DataDirectory = DataDirectory(id),
            ElectionTimeoutLower = TimeSpan.FromMilliseconds(300),
            ElectionTimeoutUpper = TimeSpan.FromMilliseconds(600),
            AppendTimeout = TimeSpan.FromSeconds(3),
            SnapshotIntervalEntries = _snapshotInterval,
        });
        await node.StartAsync();
        _nodes[id] = node;
        return node;
    }

    public async Task StartAllAsync()
    {
        await Task.WhenAll(Voters.Select(v => StartAsync(v.Id)));
    }

    public async Task StopAsync(int id)
    {
        if (_nodes[id] is { } node)
        {
            _nodes[id] = null;
            await node.DisposeAsync();
        }
    }

    /// <summary>Waits until exactly one running node leads and every running node knows it.</summary>
    public async Task<MetadataQuorum> WaitForLeaderAsync(TimeSpan timeout)
    {
        MetadataQuorum? leader = null;
        await Eventually.That(
            () =>
            {
                var leaders = Running.Where(n => n.IsLeader).ToList();
                leader = leaders.Count == 1 && Running.All(n => n.LeaderId == leaders[0].NodeId) ? leaders[0] : null;
                return leader is not null;
            },
            timeout,
            "one leader known to every running node");
        return leader!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var voter in Voters)
        {
            await StopAsync(voter.Id);
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int[] FreePorts(int count)
    {
        // Hold every listener until all ports are chosen so they are distinct.
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        listeners.ForEach(l => l.Start());
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        listeners.ForEach(l => l.Stop());
        return ports;
    }
}

/// <summary>Waits on a condition with a deadline, instead of sleeping a fixed time.</summary>
internal static class Eventually
{
    public static async Task That(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}.");
            }

            await Task.Delay(20);
        }
    }
}
