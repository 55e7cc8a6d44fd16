using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace Levee.Faults.Infrastructure;

/// <summary>Broker timeouts of a test cluster; <see cref="Default"/> leaves Levee's (Kafka's) defaults.</summary>
public sealed record ClusterTimeouts(string Name, IReadOnlyDictionary<string, string> Settings)
{
    /// <summary>broker.session.timeout.ms 9000, heartbeat 2000, replica.lag.time.max.ms 30000.</summary>
    public static ClusterTimeouts Default { get; } = new("default", new Dictionary<string, string>());

    /// <summary>Shorter but realistic: a 3 s session with 500 ms heartbeats, 5 s replica lag.</summary>
    public static ClusterTimeouts Short { get; } = new("short", new Dictionary<string, string>
    {
        ["broker.session.timeout.ms"] = "3000",
        ["broker.heartbeat.interval.ms"] = "500",
        ["replica.lag.time.max.ms"] = "5000",
    });

    public int SessionTimeoutMs => Settings.TryGetValue("broker.session.timeout.ms", out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : 9000;
}

/// <summary>Where a partition stands in the cluster's metadata as a client sees it.</summary>
public sealed record PartitionState(int Partition, int Leader, int[] Replicas, int[] Isr);

/// <summary>
/// A cluster of `levee serve` processes on 127.0.0.1: every node is a voter of the metadata quorum and a
/// broker, with free ports and its own temp data directory.
/// </summary>
public sealed class LeveeCluster : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);
    private readonly string _root;
    private readonly string _clusterId;
    private readonly ClusterTimeouts _timeouts;
    private IAdminClient? _admin;

    private LeveeCluster(int size, ClusterTimeouts timeouts)
    {
        _root = Path.Combine(Path.GetTempPath(), "levee-faults-" + Guid.NewGuid().ToString("N")[..12]);
        _clusterId = "faults-" + Guid.NewGuid().ToString("N")[..8];
        _timeouts = timeouts;
        Nodes = [.. Enumerable.Range(1, size).Select(id => new LeveeNode(id, Path.Combine(_root, "node-" + id.ToString(CultureInfo.InvariantCulture))))];
        Voters = string.Join(',', Nodes.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n.NodeId}@127.0.0.1:{n.QuorumPort}")));
    }

    public IReadOnlyList<LeveeNode> Nodes { get; }

    /// <summary>A name for the kept logs (LEVEE_FAULTS_LOGS=dir keeps every node's output there).</summary>
    public string Name { get; set; } = "cluster";

    public string Voters { get; }

    public ClusterTimeouts Timeouts => _timeouts;

    public string BootstrapServers => string.Join(',', Nodes.Select(n => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{n.Port}")));

    public IAdminClient Admin => _admin ??= new AdminClientBuilder(new AdminClientConfig
    {
        BootstrapServers = BootstrapServers,
        SocketTimeoutMs = 5000,
    }).Build();

    public LeveeNode Node(int id) => Nodes.Single(n => n.NodeId == id);

    /// <summary>Starts every node at once (a quorum needs a majority to elect) and waits until each is ready.</summary>
    public static async Task<LeveeCluster> StartAsync(int size, ClusterTimeouts timeouts)
    {
        var cluster = new LeveeCluster(size, timeouts);
        try
        {
            foreach (var node in cluster.Nodes)
            {
                node.Launch(cluster.Arguments(node));
            }

            await Task.WhenAll(cluster.Nodes.Select(n => n.WaitReadyAsync(ReadyTimeout)));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a stopped node again with the same ports and data directory and waits until it is ready.</summary>
    public async Task RestartAsync(LeveeNode node)
    {
        node.Launch(Arguments(node));
        await node.WaitReadyAsync(ReadyTimeout);
    }

    /// <summary>Creates a topic, retrying while the controller is not settled.</summary>
    public async Task CreateTopicAsync(string topic, int partitions, short replicationFactor, int minInsyncReplicas)
    {
        await Wait.UntilAsync(
            $"topic {topic} created",
            TimeSpan.FromSeconds(30),
            async () =>
            {
                try
                {
                    await Admin.CreateTopicsAsync([new TopicSpecification
                    {
                        Name = topic,
                        NumPartitions = partitions,
                        ReplicationFactor = replicationFactor,
                        Configs = new Dictionary<string, string> { ["min.insync.replicas"] = minInsyncReplicas.ToString(CultureInfo.InvariantCulture) },
                    }]);
                    return true;
                }
                catch (CreateTopicsException ex) when (ex.Results.TrueForAll(r => r.Error.Code == ErrorCode.TopicAlreadyExists))
                {
                    return true;
                }
                catch (KafkaException)
                {
                    return false;
                }
            });
    }

    /// <summary>The topic's partitions as a fresh Metadata request reports them (null while unavailable).</summary>
    public async Task<IReadOnlyList<PartitionState>?> DescribeAsync(string topic)
    {
        try
        {
            var metadata = await Task.Run(() => Admin.GetMetadata(topic, TimeSpan.FromSeconds(5)));
            var t = metadata.Topics.SingleOrDefault(x => x.Topic == topic);
            if (t is null || t.Error.IsError)
            {
                return null;
            }

            return [.. t.Partitions.OrderBy(p => p.PartitionId).Select(p => new PartitionState(p.PartitionId, p.Leader, p.Replicas, p.InSyncReplicas))];
        }
        catch (KafkaException)
        {
            return null;
        }
    }

    /// <summary>Waits until every partition has a leader and its full replica set in the ISR; returns how long it took.</summary>
    public async Task<TimeSpan> WaitForFullIsrAsync(string topic, int partitions, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        IReadOnlyList<PartitionState>? last = null;
        await Wait.UntilAsync(
            $"every partition of {topic} back to full ISR",
            timeout,
            async () =>
            {
                last = await DescribeAsync(topic);
                return last is { } states && states.Count == partitions
                    && states.All(p => p.Leader >= 0 && p.Replicas.Length > 0 && p.Isr.Order().SequenceEqual(p.Replicas.Order()));
            },
            () => last is null ? "no metadata" : string.Join("; ", last.Select(p => $"p{p.Partition} leader {p.Leader} replicas [{string.Join(',', p.Replicas)}] isr [{string.Join(',', p.Isr)}]")));
        return watch.Elapsed;
    }

    /// <summary>The active controller (quorum leader) as DescribeCluster reports it.</summary>
    public async Task<int> ControllerIdAsync()
    {
        var id = -1;
        await Wait.UntilAsync(
            "a controller reported by DescribeCluster",
            TimeSpan.FromSeconds(30),
            async () =>
            {
                try
                {
                    var result = await Admin.DescribeClusterAsync(new DescribeClusterOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
                    id = result.Controller?.Id ?? -1;
                    return id > 0;
                }
                catch (KafkaException)
                {
                    return false;
                }
            });
        return id;
    }

    /// <summary>The last lines of every node's log, for a failure message.</summary>
    public string LogTails(int lines = 60) => string.Join(
        Environment.NewLine,
        Nodes.Select(n => $"---- node {n.NodeId} (running: {n.IsRunning}) ----{Environment.NewLine}{string.Join(Environment.NewLine, n.Log.Split('\n').TakeLast(lines))}"));

    public async ValueTask DisposeAsync()
    {
        _admin?.Dispose();
        var keep = Environment.GetEnvironmentVariable("LEVEE_FAULTS_LOGS");
        foreach (var node in Nodes)
        {
            if (!string.IsNullOrEmpty(keep))
            {
                Directory.CreateDirectory(keep);
                await File.WriteAllTextAsync(Path.Combine(keep, $"{Name}-node-{node.NodeId}.log"), node.Log);
            }

            await node.DisposeAsync();
        }

        try
        {
            if (Directory.Exists(_root))
            {
                Directory.Delete(_root, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    private List<string> Arguments(LeveeNode node)
    {
        var args = new List<string>
        {
            "serve",
            "--node-id", node.NodeId.ToString(CultureInfo.InvariantCulture),
            "--port", node.Port.ToString(CultureInfo.InvariantCulture),
            "--data-dir", node.DataDir,
            "--set", "controller.quorum.voters=" + Voters,
            "--set", "cluster.id=" + _clusterId,
            "--set", "auto.create.topics.enable=false",
        };
        foreach (var (key, value) in _timeouts.Settings)
        {
            args.Add("--set");
            args.Add(key + "=" + value);
        }

        return args;
    }
}
