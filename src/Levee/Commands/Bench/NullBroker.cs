using System.Net;
using Levee.Broker.Network;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Levee.Commands.Bench;

/// <summary>
/// `levee bench null-broker`: the baseline. The same Kestrel transport and the same framing and generated codec
/// as `levee serve`, but Produce is answered at once with increasing offsets and nothing stored, and Fetch is
/// answered with a fixed pre-built batch. What Levee reaches divided by what this reaches is the share of the
/// client+transport+codec budget that Levee's own work (validation, storage, fetch reads) leaves.
/// </summary>
internal sealed class NullBroker : IAsyncDisposable
{
    private readonly WebApplication _app;

    private NullBroker(WebApplication app, string host, int port)
    {
        _app = app;
        Host = host;
        Port = port;
    }

    public string Host { get; }

    public int Port { get; }

    public static async Task<NullBroker> StartAsync(string host, int port, int defaultPartitions, int fetchRecordSize, CancellationToken cancellationToken)
    {
        var builder = KafkaListenerHost.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var state = new NullBrokerState(host, defaultPartitions, fetchRecordSize);
        builder.Services.AddSingleton(state);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Parse(host), port, listen => listen.UseConnectionHandler<NullBrokerConnectionHandler>());
        });
        var app = builder.Build();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var bound = new Uri(address).Port;
        state.Port = bound;
        return new NullBroker(app, host, bound);
    }

    public async Task WaitForShutdownAsync(CancellationToken cancellationToken)
    {
        var lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var a = lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
        using var b = cancellationToken.Register(() => stopping.TrySetResult());
        await stopping.Task.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
