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

    /// <summary>The topic's id as a fresh Metadata request reports it: "" when the topic does not exist, null when the cluster did not answer.</summary>
    public async Task<string?> TopicIdAsync(string topic)
    {
        try
        {
            var result = await Admin.DescribeTopicsAsync(TopicCollection.OfTopicNames([topic]), new DescribeTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
            return result.TopicDescriptions.Single().TopicId.ToString();
        }
        catch (DescribeTopicsException ex) when (ex.Results.TopicDescriptions.TrueForAll(d => d.Error.Code == ErrorCode.UnknownTopicOrPart))
        {
            return "";
        }
        catch (KafkaException)
        {
            return null;
        }
    }

    /// <summary>
    /// Deletes a topic and waits until Metadata no longer shows it. The request is repeated while the topic is
    /// shown (an answer such as REQUEST_TIMED_OUT does not say whether it was applied).
    /// </summary>
    public Task DeleteTopicAsync(string topic, TimeSpan timeout) => Wait.UntilAsync(
        $"topic {topic} deleted and gone from Metadata",
        timeout,
        async () =>
        {
            var id = await TopicIdAsync(topic);
            if (id is not { Length: > 0 })
            {
                return id is "";
            }

            try
            {
                await Admin.DeleteTopicsAsync([topic], new DeleteTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(10) });
            }
            catch (KafkaException)
            {
                // Unknown (deleted meanwhile) or timed out: Metadata decides.
            }

            return await TopicIdAsync(topic) is "";
        });

    /// <summary>
    /// Creates a new generation of a topic whose previous generation (id <paramref name="previousId"/>, "" for
    /// none) was deleted, and returns the new topic id. While Metadata still shows the previous id, the deletion
    /// is not complete and nothing is sent; an "already exists" answer counts only if the id is a new one.
    /// </summary>
    public async Task<string> CreateTopicGenerationAsync(string topic, int partitions, short replicationFactor, int minInsyncReplicas, string previousId, TimeSpan timeout)
    {
        var id = "";
        await Wait.UntilAsync(
            $"a new generation of topic {topic} (previous id {previousId})",
            timeout,
            async () =>
            {
                id = await TopicIdAsync(topic) ?? "";
                if (id.Length > 0)
                {
                    return id != previousId;
                }

                try
                {
                    await Admin.CreateTopicsAsync(
                        [new TopicSpecification
                        {
                            Name = topic,
                            NumPartitions = partitions,
                            ReplicationFactor = replicationFactor,
                            Configs = new Dictionary<string, string> { ["min.insync.replicas"] = minInsyncReplicas.ToString(CultureInfo.InvariantCulture) },
                        }],
                        new CreateTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(10) });
                }
                catch (KafkaException)
                {
                    // Already exists (a stale view of the previous generation, or our own earlier request applied) or timed out: Metadata decides.
                }

                id = await TopicIdAsync(topic) ?? "";
                return id.Length > 0 && id != previousId;
            },
            () => $"last id seen: '{id}'");
        return id;
    }

    /// <summary>
    /// Waits until every partition of every topic (internal ones included) has a leader and its full replica set
    /// in the ISR; returns how long it took. On timeout the message lists the partitions that are not.
    /// </summary>
    public async Task<TimeSpan> WaitForFullIsrEverywhereAsync(TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        var behind = new List<string>();
        await Wait.UntilAsync(
            "every partition of every topic at full ISR",
            timeout,
            async () =>
            {
                Metadata metadata;
                try
                {
                    metadata = await Task.Run(() => Admin.GetMetadata(TimeSpan.FromSeconds(5)));
                }
                catch (KafkaException ex)
                {
                    behind = ["no metadata: " + ex.Error.Reason];
                    return false;
                }

                behind = [.. metadata.Topics.SelectMany(t => t.Error.IsError
                    ? [$"{t.Topic}: {t.Error.Code}"]
                    : t.Partitions.Where(p => p.Leader < 0 || !p.InSyncReplicas.Order().SequenceEqual(p.Replicas.Order()))
                        .OrderBy(p => p.PartitionId)
                        .Select(p => $"{t.Topic}-{p.PartitionId} leader {p.Leader} replicas [{string.Join(',', p.Replicas)}] isr [{string.Join(',', p.InSyncReplicas)}]"))];
                return behind.Count == 0;
            },
            () => $"{behind.Count} partitions not at full ISR: {string.Join("; ", behind)}");
        return watch.Elapsed;
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
            "--set", "admin.listener=127.0.0.1:0",
        };
        foreach (var (key, value) in _timeouts.Settings)
        {
            args.Add("--set");
            args.Add(key + "=" + value);
        }

        return args;
    }
}
