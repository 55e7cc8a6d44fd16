using System.Net;
using Levee.Broker.Groups;
using Levee.Broker.Handlers;
using Levee.Broker.Network;
using Levee.Broker.Partitions;
using Levee.Broker.Producers;
using Levee.Broker.Requests;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
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

    private LeveeBroker(WebApplication app, BrokerIdentity identity, BrokerOptions options)
    {
        _app = app;
        Identity = identity;
        Options = options;
        _logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Levee.Broker");
    }

    /// <summary>Who and where this broker is.</summary>
    public BrokerIdentity Identity { get; }

    /// <summary>The options it runs with.</summary>
    public BrokerOptions Options { get; }

    /// <summary>The partitions and topics this broker holds.</summary>
    public ReplicaManager Replicas => _app.Services.GetRequiredService<ReplicaManager>();

    /// <summary>host:port to give clients as bootstrap servers.</summary>
    public string BootstrapServers => $"{Identity.Host}:{Identity.Port}";

    /// <summary>Opens the data directory, binds the listener and starts serving.</summary>
    public static async Task<LeveeBroker> StartAsync(BrokerOptions options, Action<ILoggingBuilder>? configureLogging = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
        });
        // Kestrel's own start-up lines speak of "http://" listeners: misleading for a Kafka port.
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        configureLogging?.Invoke(builder.Logging);

        var identity = new BrokerIdentity(options.NodeId, options.Host);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => ReplicaManager.Open(options, sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<TimeProvider>()));
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
        builder.Services.AddSingleton<IApiHandler, DeleteRecordsHandler>();
        builder.Services.AddSingleton(sp => new ProducerIdManager(options.DataDir));
        builder.Services.AddSingleton<IApiHandler, InitProducerIdHandler>();
        builder.Services.AddSingleton<IApiHandler, DescribeProducersHandler>();
        builder.Services.AddSingleton<IApiHandler>(sp => new ApiVersionsHandler(() => sp.GetRequiredService<RequestDispatcher>().Handlers));
        builder.Services.AddSingleton(sp => new RequestDispatcher(sp.GetServices<IApiHandler>()));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            void Kafka(ListenOptions listen) => listen.UseConnectionHandler<KafkaConnectionHandler>();
            if (IPAddress.TryParse(options.Host, out var address))
            {
                kestrel.Listen(address, options.Port, Kafka);
            }
            else if (options.Host == "localhost")
            {
                kestrel.ListenLocalhost(options.Port, Kafka);
            }
            else
            {
                kestrel.ListenAnyIP(options.Port, Kafka);
            }
        });

        var app = builder.Build();

        // Open (and if need be recover) the logs before accepting a connection.
        app.Services.GetRequiredService<ReplicaManager>();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        identity.Port = new Uri(address.Replace("*", "localhost", StringComparison.Ordinal)).Port;
        var broker = new LeveeBroker(app, identity, options);
        broker.LogReady(identity.NodeId, options.Host, identity.Port, Path.GetFullPath(options.DataDir));
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
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.Services.GetRequiredService<ReplicaManager>().DisposeAsync().ConfigureAwait(false);
        LogStopped(Identity.NodeId);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Levee broker {NodeId} ready: Kafka listener on {Host}:{Port}, data in {DataDir}")]
    private partial void LogReady(int nodeId, string host, int port, string dataDir);

    [LoggerMessage(Level = LogLevel.Information, Message = "Levee broker {NodeId} stopping")]
    private partial void LogStopping(int nodeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Levee broker {NodeId} stopped cleanly")]
    private partial void LogStopped(int nodeId);
}
