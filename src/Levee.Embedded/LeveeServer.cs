using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Levee.Broker;
using Levee.Broker.Cluster;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Levee.Embedded;

/// <summary>
/// Levee running inside this process: one broker, or a cluster of several, each on a free port over its own data
/// directory. Any Kafka client connects to <see cref="BootstrapServers"/>. Disposing it stops every broker cleanly
/// and removes a temporary data directory.
/// </summary>
/// <example>
/// <code>
/// await using var kafka = await LeveeServer.StartAsync();
/// await kafka.CreateTopicAsync("orders", partitions: 3);
/// using var producer = new ProducerBuilder&lt;Null, string&gt;(new ProducerConfig { BootstrapServers = kafka.BootstrapServers }).Build();
/// </code>
/// </example>
public sealed class LeveeServer : IAsyncDisposable
{
    private const short CreateTopicsVersion = 7;
    private const short DeleteTopicsVersion = 6;
    private readonly LeveeBroker[] _brokers;
    private readonly string? _temporaryDirectory;
    private int _disposed;

    private LeveeServer(LeveeBroker[] brokers, string dataDirectory, string? temporaryDirectory)
    {
        _brokers = brokers;
        DataDirectory = dataDirectory;
        _temporaryDirectory = temporaryDirectory;
    }

    /// <summary>host:port of every broker, comma-separated: what a Kafka client takes as bootstrap.servers.</summary>
    public string BootstrapServers => string.Join(',', _brokers.Select(b => b.BootstrapServers));

    /// <summary>Each broker's Kafka port, by node id (1, 2, ...).</summary>
    public IReadOnlyList<int> Ports => [.. _brokers.Select(b => b.Identity.Port)];

    /// <summary>The directory holding every broker's data.</summary>
    public string DataDirectory { get; }

    /// <summary>
    /// Starts Levee and returns once every broker serves clients (in a cluster: once the quorum has formed and each
    /// broker is registered).
    /// </summary>
    /// <exception cref="ArgumentException">A setting is unknown or malformed, or <see cref="LeveeServerOptions.Brokers"/> is below 1.</exception>
    public static async Task<LeveeServer> StartAsync(LeveeServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LeveeServerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Brokers, 1, nameof(options));
        BrokerOptions settings;
        try
        {
            settings = BrokerOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(options.Settings.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build());
        }
        catch (BrokerConfigurationException ex)
        {
            throw new ArgumentException(ex.Message, nameof(options), ex);
        }

        var temporary = options.DataDirectory is null ? Path.Combine(Path.GetTempPath(), "levee-embedded-" + Guid.NewGuid().ToString("N")) : null;
        var root = Path.GetFullPath(options.DataDirectory ?? temporary!);
        Directory.CreateDirectory(root);
        var voters = options.Brokers == 1
            ? null
            : string.Join(',', Enumerable.Range(1, options.Brokers).Select(id => string.Create(CultureInfo.InvariantCulture, $"{id}@127.0.0.1:{FreePort()}")));
        void Logging(ILoggingBuilder builder)
        {
            builder.ClearProviders();
            options.Logging?.Invoke(builder);
        }

        var starts = Enumerable.Range(1, options.Brokers).Select(id => LeveeBroker.StartAsync(
            settings with
            {
                NodeId = id,
                DataDir = Path.Combine(root, $"node-{id}"),
                Host = "127.0.0.1",
                Port = id == 1 ? options.Port : 0,
                QuorumPort = 0,
                QuorumVoters = voters,

                // No admin HTTP listener unless asked for: `levee serve` has one on 127.0.0.1:8080, which two servers
                // in one process (or a developer's own broker) would both want.
                AdminListener = options.Settings.ContainsKey("admin.listener") ? settings.AdminListener : null,
            },
            Logging,
            cancellationToken: cancellationToken)).ToList();
        try
        {
            return new LeveeServer(await Task.WhenAll(starts).ConfigureAwait(false), root, temporary);
        }
        catch
        {
            foreach (var started in starts.Where(s => s.IsCompletedSuccessfully))
            {
                await started.Result.DisposeAsync().ConfigureAwait(false);
            }

            DeleteTemporary(temporary);
            throw;
        }
    }

    /// <summary>
    /// Creates a topic (CreateTopics, as a client would). <paramref name="replicationFactor"/> -1 takes the broker's
    /// default.replication.factor; <paramref name="configs"/> are topic settings such as <c>retention.ms</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The broker refused it; the message has Kafka's error and reason.</exception>
    public async Task CreateTopicAsync(string name, int partitions = 1, short replicationFactor = -1, IReadOnlyDictionary<string, string>? configs = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var topic = new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = partitions, ReplicationFactor = replicationFactor };
        foreach (var (key, value) in configs ?? new Dictionary<string, string>())
        {
            topic.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = key, Value = value });
        }

        var request = new CreateTopicsRequest { TimeoutMs = 30_000 };
        request.Topics.Add(topic);
        var response = await SendAsync<CreateTopicsRequest, CreateTopicsResponse>(ApiKey.CreateTopics, CreateTopicsVersion, request, cancellationToken).ConfigureAwait(false);
        var result = response.Topics.Single();
        ThrowIfFailed("create", name, result.ErrorCode, result.ErrorMessage);
    }

    /// <summary>Deletes a topic (DeleteTopics, as a client would).</summary>
    /// <exception cref="InvalidOperationException">The broker refused it; the message has Kafka's error and reason.</exception>
    public async Task DeleteTopicAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var request = new DeleteTopicsRequest { TimeoutMs = 30_000 };
        request.Topics.Add(new DeleteTopicsRequest.DeleteTopicState { Name = name });
        var response = await SendAsync<DeleteTopicsRequest, DeleteTopicsResponse>(ApiKey.DeleteTopics, DeleteTopicsVersion, request, cancellationToken).ConfigureAwait(false);
        var result = response.Responses.Single();
        ThrowIfFailed("delete", name, result.ErrorCode, result.ErrorMessage);
    }

    /// <summary>Stops every broker cleanly and deletes the data if it was a temporary directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Task.WhenAll(_brokers.Select(b => b.DisposeAsync().AsTask())).ConfigureAwait(false);
        DeleteTemporary(_temporaryDirectory);
    }

    private async Task<TResponse> SendAsync<TRequest, TResponse>(ApiKey key, short version, TRequest request, CancellationToken cancellationToken)
        where TRequest : IKafkaMessage
        where TResponse : IKafkaMessage<TResponse>
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var broker = _brokers[0].Identity;
        await using var client = new BrokerClient(broker.Host, broker.Port, "levee-embedded", TimeSpan.FromSeconds(60));
        return await client.SendAsync<TRequest, TResponse>(key, version, request, cancellationToken).ConfigureAwait(false);
    }

    private static void ThrowIfFailed(string action, string topic, short errorCode, string? message)
    {
        if (errorCode != 0)
        {
            throw new InvalidOperationException($"Could not {action} topic '{topic}': {(ErrorCode)errorCode}{(string.IsNullOrEmpty(message) ? "" : ": " + message)}");
        }
    }

    private static void DeleteTemporary(string? directory)
    {
        if (directory is not null && Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
