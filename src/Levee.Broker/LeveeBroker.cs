using System.Globalization;
using System.Net;
using Levee.Broker.Admin;
using Levee.Broker.Cluster;
using Levee.Broker.Groups;
using Levee.Broker.Handlers;
using Levee.Broker.Logging;
using Levee.Broker.Network;
using Levee.Broker.Partitions;
using Levee.Broker.Producers;
using Levee.Broker.Quotas;
using Levee.Broker.Replication;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Broker.Transactions;
using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;
using Levee.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Levee.Broker;

/// <summary>
/// One running broker: the data directory opened and recovered, the Kafka listener bound on
/// Kestrel, the handlers wired. `levee serve` runs one until SIGTERM/SIGINT; tests start one on an
/// ephemeral port. Disposing it stops the listener and closes every log cleanly.
/// </summary>
public sealed partial class LeveeBroker : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ILogger _logger;
    private int _disposed;

    private LeveeBroker(WebApplication app, BrokerIdentity identity, BrokerOptions options, Uri? adminAddress)
    {
        _app = app;
        Identity = identity;
        Options = options;
        AdminAddress = adminAddress;
        _logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Levee.Broker");
    }

    /// <summary>Who and where this broker is.</summary>
    public BrokerIdentity Identity { get; }

    /// <summary>The options it runs with.</summary>
    public BrokerOptions Options { get; }

    /// <summary>The admin HTTP listener's base address (the bound port when admin.listener asked for port 0); null when it is off.</summary>
    public Uri? AdminAddress { get; }

    /// <summary>The partitions and topics this broker holds.</summary>
    public ReplicaManager Replicas => _app.Services.GetRequiredService<ReplicaManager>();

    /// <summary>The group coordinator (its groups, offsets and transactional offsets).</summary>
    public GroupCoordinator Groups => _app.Services.GetRequiredService<GroupCoordinator>();

    /// <summary>True while this broker is the active controller (it leads the metadata quorum).</summary>
    public bool IsController => _app.Services.GetRequiredService<ControllerService>().IsActive;

    /// <summary>The request memory budget (queued.max.request.bytes) every connection draws from.</summary>
    public RequestMemoryBudget RequestMemory => _app.Services.GetRequiredService<RequestMemoryBudget>();

    /// <summary>The broker's instruments, exported at /metrics when the admin listener is on.</summary>
    public BrokerMetrics Metrics => _app.Services.GetRequiredService<BrokerMetrics>();

    /// <summary>The connections open on every listener, against max.connections.</summary>
    public ConnectionLimit Connections => _app.Services.GetRequiredService<ConnectionLimit>();

    /// <summary>host:port to give clients as bootstrap servers.</summary>
    public string BootstrapServers => $"{Identity.Host}:{Identity.Port}";

    /// <summary>Every API handler registered, each of which the request pipeline serves.</summary>
    public IReadOnlyList<IApiHandler> Handlers => [.. _app.Services.GetServices<IApiHandler>()];

    /// <summary>
    /// Opens the data directory, binds the listeners and starts serving. <paramref name="configureServices"/> may add
    /// services, API handlers included, after the broker's own.
    /// </summary>
    /// <exception cref="BrokerConfigurationException">A listener setting is malformed or inconsistent, a connection limit is not positive, or the admin listener's port is taken.</exception>
    public static async Task<LeveeBroker> StartAsync(BrokerOptions options, Action<ILoggingBuilder>? configureLogging = null, Action<IServiceCollection>? configureServices = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var listeners = KafkaListener.Resolve(options);
        BrokerTls.Validate(options);
        var requestMemory = new RequestMemoryBudget(options.ResolveQueuedMaxRequestBytes());
        options.CheckConnectionLimits();
        var admin = AdminEndpoint.Resolve(options);
        var usesTls = listeners.Any(l => l.IsTls) || options.QuorumSecurityProtocol == SecurityProtocol.Ssl;
        var clientListener = listeners.FirstOrDefault(l => !l.IsInterBroker) ?? listeners[0];
        var interBrokerListener = listeners.FirstOrDefault(l => l.IsInterBroker) ?? listeners[0];
        var builder = KafkaListenerHost.CreateBuilder();
        builder.Logging.AddBrokerConsole(options.LogFormat, options.LogLevel);
        configureLogging?.Invoke(builder.Logging);

        var identity = new BrokerIdentity(options.NodeId, clientListener.AdvertisedHost ?? clientListener.Host, interBrokerListener.Name);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton(TimeProvider.System);
        if (usesTls)
        {
            builder.Services.AddSingleton<BrokerTls>();
        }

        // Measured (and its reserve held) before the metadata log opens: partition data stops short of a full disk.
        builder.Services.AddSingleton(sp => new LogDirectorySpace(options.DataDir, sp.GetRequiredService<ILoggerFactory>().CreateLogger<LogDirectorySpace>()));
        builder.Services.AddSingleton(sp => new MetadataQuorum(QuorumOptions(options, sp.GetRequiredService<LogDirectorySpace>(), sp.GetService<BrokerTls>()), sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<ControllerService>();
        builder.Services.AddSingleton<RequestAuthorizer>();
        builder.Services.AddSingleton<ControllerChannel>();
        builder.Services.AddSingleton<ListenerShutdown>();
        builder.Services.AddSingleton<ConnectionLimit>();
        builder.Services.AddSingleton(requestMemory);
        builder.Services.AddSingleton(new TenantRequestMemory(options.ResolveQueuedMaxRequestBytesPerTenant()));
        builder.Services.AddSingleton<TenantConnections>();
        builder.Services.AddSingleton<TenantUsage>();
        builder.Services.AddSingleton<BrokerLifecycle>();
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<ClusterEvents>();
        builder.Services.AddSingleton<BrokerMetrics>();
        if (admin is not null)
        {
            AdminApi.AddServices(builder.Services);
        }

        builder.Services.AddSingleton(sp => ReplicaManager.Open(options, identity, sp.GetRequiredService<MetadataQuorum>(), sp.GetRequiredService<ControllerService>(), sp.GetRequiredService<ControllerChannel>(), sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<LogDirectorySpace>()));
        builder.Services.AddSingleton<IsrManager>();
        builder.Services.AddSingleton<ReplicationThrottle>();
        builder.Services.AddSingleton(sp => new ReplicaFetcherManager(sp.GetRequiredService<ReplicaManager>(), options, identity.InterBrokerListener, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>(), sp.GetService<BrokerTls>()));
        builder.Services.AddGroupCoordinator();
        builder.Services.AddSingleton<IApiHandler, MetadataHandler>();
        builder.Services.AddSingleton<IApiHandler, ProduceHandler>();
        builder.Services.AddSingleton<IApiHandler, FetchHandler>();
        builder.Services.AddSingleton<IApiHandler, ListOffsetsHandler>();
        builder.Services.AddSingleton<IApiHandler, CreateTopicsHandler>();
        builder.Services.AddSingleton<IApiHandler, DeleteTopicsHandler>();
        builder.Services.AddSingleton<IApiHandler, CreatePartitionsHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeConfigsHandler>();
        builder.Services.AddSingleton<IApiHandler, AlterConfigsHandler>();
        builder.Services.AddSingleton<IApiHandler, IncrementalAlterConfigsHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeClusterHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeLogDirsHandler>();
        builder.Services.AddSingleton<IApiHandler, AlterReplicaLogDirsHandler>();
        builder.Services.AddSingleton<IApiHandler, DeleteRecordsHandler>();
        builder.Services.AddSingleton<ProducerIdManager>();
        builder.Services.AddSingleton<IApiHandler, AllocateProducerIdsHandler>();
        builder.Services.AddSingleton<IApiHandler, InitProducerIdHandler>();
        builder.Services.AddSingleton<TransactionMarkerChannel>();
        builder.Services.AddSingleton<TransactionCoordinator>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TransactionCoordinator>());
        builder.Services.AddSingleton<IApiHandler, AddPartitionsToTxnHandler>();
        builder.Services.AddSingleton<IApiHandler, AddOffsetsToTxnHandler>();
        builder.Services.AddSingleton<IApiHandler, EndTxnHandler>();
        builder.Services.AddSingleton<IApiHandler, WriteTxnMarkersHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeTransactionsHandler>();
        builder.Services.AddSingleton<IApiHandler, ListTransactionsHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeProducersHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeTopicPartitionsHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeQuorumHandler>();
        builder.Services.AddSingleton<IApiHandler, BrokerRegistrationHandler>();
        builder.Services.AddSingleton<IApiHandler, BrokerHeartbeatHandler>();
        builder.Services.AddSingleton<IApiHandler, AlterPartitionHandler>();
        builder.Services.AddSingleton<IApiHandler, OffsetForLeaderEpochHandler>();
        builder.Services.AddSingleton<SaslAuthenticator>();
        builder.Services.AddSingleton<IApiHandler, SaslHandshakeHandler>();
        builder.Services.AddSingleton<IApiHandler, SaslAuthenticateHandler>();
        builder.Services.AddSingleton<IApiHandler, AlterUserScramCredentialsHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeUserScramCredentialsHandler>();
        builder.Services.AddSingleton<IApiHandler, CreateAclsHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeAclsHandler>();
        builder.Services.AddSingleton<IApiHandler, DeleteAclsHandler>();
        builder.Services.AddSingleton<BrokerQuotas>();
        builder.Services.AddSingleton<ControllerMutationQuota>();
        builder.Services.AddSingleton<IApiHandler, DescribeClientQuotasHandler>();
        builder.Services.AddSingleton<IApiHandler, AlterClientQuotasHandler>();
        builder.Services.AddSingleton<IApiHandler, AlterPartitionReassignmentsHandler>();
        builder.Services.AddSingleton<IApiHandler, ListPartitionReassignmentsHandler>();
        builder.Services.AddSingleton<IApiHandler, ElectLeadersHandler>();
        builder.Services.AddSingleton<IApiHandler>(sp => new ApiVersionsHandler(() => sp.GetRequiredService<RequestDispatcher>().Handlers));
        configureServices?.Invoke(builder.Services);
        builder.Services.AddSingleton<RequestDispatcher>();
        builder.Services.AddSingleton<KafkaConnectionHandler>();
        var bound = new List<(KafkaListener Listener, ListenOptions Options)>();
        ListenOptions? adminBound = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;

            // The admin listener is an ordinary HTTP listener of the same Kestrel: the app's routes (AdminApi) serve it,
            // while each Kafka listener runs its own connection handler and never reaches them.
            if (admin is not null)
            {
                kestrel.Listen(admin.Address, admin.Port, listen => adminBound = listen);
            }

            foreach (var listener in listeners)
            {
                // An address Kestrel binds as given, so that the bound port (port 0: a free one) can be read back
                // per listener: "localhost" is the IPv4 loopback, any other host name every interface.
                var address = IPAddress.TryParse(listener.Host, out var ip) ? ip
                    : listener.Host == "localhost" ? IPAddress.Loopback
                    : IPAddress.Any;
                kestrel.Listen(address, listener.Port, listen =>
                {
                    var handler = listen.ApplicationServices.GetRequiredService<KafkaConnectionHandler>();

                    // max.connections first: a connection over it is closed before its TLS handshake or any state.
                    listen.ApplicationServices.GetRequiredService<ConnectionLimit>().Use(listen, listener);
                    if (listener.IsTls)
                    {
                        TlsTransport.Use(listen, listener, listen.ApplicationServices.GetRequiredService<BrokerTls>(), listen.ApplicationServices.GetRequiredService<ILogger<KafkaConnectionHandler>>());
                    }

                    listen.Run(connection => handler.ServeAsync(connection, listener));
                    bound.Add((listener, listen));
                });
            }
        });

        var app = builder.Build();
        if (admin is not null)
        {
            AdminApi.Map(app, options);
        }

        // The pipeline checks every handler's authorization declaration when it is built: a broker with an
        // undeclared handler does not start.
        app.Services.GetRequiredService<RequestDispatcher>();

        // The keystore and truststore are read now: a file that cannot be read stops the start, not the first handshake.
        if (usesTls)
        {
            app.Services.GetRequiredService<BrokerTls>();
        }

        // Recover the metadata image, then open (and if need be recover) the logs, before accepting a connection.
        await app.Services.GetRequiredService<MetadataQuorum>().StartAsync(cancellationToken).ConfigureAwait(false);
        app.Services.GetRequiredService<ClusterEvents>().Start();
        app.Services.GetRequiredService<ReplicaManager>();
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex) when (admin is { Port: > 0 } && ex.Message.Contains(string.Create(CultureInfo.InvariantCulture, $":{admin.Port}:"), StringComparison.Ordinal))
        {
            // Most likely the default 8080, taken by something else: say which setting moves it.
            throw new BrokerConfigurationException($"The admin listener cannot bind {options.AdminListener} ({ex.Message}); set admin.listener to a free host:port, or to off.", ex);
        }
        identity.Endpoints = [.. bound.Select(b => new BrokerEndpoint(
            b.Listener.Name,
            b.Listener.AdvertisedHost ?? b.Listener.Host,
            b.Listener.AdvertisedPort ?? ((IPEndPoint)b.Options.EndPoint).Port,
            (short)b.Listener.Protocol))];
        identity.Port = identity.Endpoints.First(e => e.Name == clientListener.Name).Port;
        var adminAddress = adminBound is { EndPoint: IPEndPoint adminEndPoint }
            ? new Uri($"http://{(adminEndPoint.Address.Equals(IPAddress.Any) ? identity.Host : adminEndPoint.Address.ToString())}:{adminEndPoint.Port}/")
            : null;
        var broker = new LeveeBroker(app, identity, options, adminAddress);

        // Join the cluster: the controller loop, registration and heartbeats, replication. The broker is
        // ready once the controller has unfenced it (in a cluster, once a quorum has formed).
        app.Services.GetRequiredService<ControllerService>().Start();
        var lifecycle = app.Services.GetRequiredService<BrokerLifecycle>();
        lifecycle.Start();
        app.Services.GetRequiredService<ReplicaFetcherManager>();
        app.Services.GetRequiredService<IsrManager>().Start();
        await lifecycle.Unfenced.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (app.Services.GetRequiredService<ControllerService>() is { IsActive: true } controller)
        {
            await controller.ApplyCredentialBootstrapAsync(cancellationToken).ConfigureAwait(false);
        }

        broker.LogReady(identity.NodeId, identity.Host, identity.Port, Path.GetFullPath(options.DataDir), string.Join(", ", identity.Endpoints.Select(e => $"{e.Name}://{e.Host}:{e.Port}")), adminAddress?.ToString() ?? "off");
        return broker;
    }

    /// <summary>Completes when the host is asked to stop (SIGTERM, SIGINT) or <paramref name="cancellationToken"/> fires.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken)
    {
        var lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var a = lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
        using var b = cancellationToken.Register(() => stopping.TrySetResult());
        await stopping.Task.ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        LogStopping(Identity.NodeId);
        var services = _app.Services;
        if (services.GetRequiredService<MetadataQuorum>().Voters.Count > 1)
        {
            // Controlled shutdown: leadership moves to other in-sync replicas before this broker stops.
            var moved = await services.GetRequiredService<BrokerLifecycle>().ControlledShutdownAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            LogControlledShutdown(Identity.NodeId, moved);
        }

        await services.GetRequiredService<IsrManager>().DisposeAsync().ConfigureAwait(false);
        await services.GetRequiredService<ReplicaFetcherManager>().DisposeAsync().ConfigureAwait(false);
        await services.GetRequiredService<BrokerLifecycle>().DisposeAsync().ConfigureAwait(false);
        services.GetRequiredService<ListenerShutdown>().CloseAll();
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await services.GetRequiredService<ControllerService>().DisposeAsync().ConfigureAwait(false);
        await services.GetRequiredService<ReplicaManager>().DisposeAsync().ConfigureAwait(false);
        await services.GetRequiredService<MetadataQuorum>().DisposeAsync().ConfigureAwait(false);
        LogStopped(Identity.NodeId);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventName = "Ready", Level = LogLevel.Information, Message = "Levee broker {NodeId} ready: Kafka listener on {Host}:{Port}, data in {DataDir}; listeners {Listeners}; admin {Admin}")]
    private partial void LogReady(int nodeId, string host, int port, string dataDir, string listeners, string admin);

    /// <summary>The metadata quorum of this node: the voters given, or this broker alone.</summary>
    private static MetadataQuorumOptions QuorumOptions(BrokerOptions options, LogDirectorySpace space, BrokerTls? tls)
    {
        var voters = options.QuorumVoters is { Length: > 0 } list
            ? QuorumVoter.ParseList(list)
            : [new QuorumVoter(options.NodeId, new IPEndPoint(IPAddress.TryParse(options.Host, out var ip) ? ip : IPAddress.Loopback, options.QuorumPort == 0 ? FreePort() : options.QuorumPort))];
        var quorumTls = options.QuorumSecurityProtocol == SecurityProtocol.Ssl ? tls?.QuorumTransport() : null;
        return new MetadataQuorumOptions { NodeId = options.NodeId, Voters = voters, DataDirectory = options.DataDir, Space = space, Tls = quorumTls };
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [LoggerMessage(EventName = "ControlledShutdown", Level = LogLevel.Information, Message = "Levee broker {NodeId} controlled shutdown: leadership moved away: {Moved}")]
    private partial void LogControlledShutdown(int nodeId, bool moved);

    [LoggerMessage(EventName = "Stopping", Level = LogLevel.Information, Message = "Levee broker {NodeId} stopping")]
    private partial void LogStopping(int nodeId);

    [LoggerMessage(EventName = "Stopped", Level = LogLevel.Information, Message = "Levee broker {NodeId} stopped cleanly")]
    private partial void LogStopped(int nodeId);
}
