using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Levee.Broker.Network;

/// <summary>
/// The host a Kafka listener runs in: Kestrel's connection layer and socket transport, and nothing of the web
/// host's defaults. The broker and the benchmark's null broker both start from here, so a ratio between them
/// compares what they do with a request, not how bytes reach them.
/// </summary>
public static class KafkaListenerHost
{
    /// <summary>
    /// The most bytes a connection's transport buffers unread: 256 KiB (Kestrel's default is 1 MiB). Every connection
    /// may hold this much outside queued.max.request.bytes, so it is what one tenant's thousands of connections cost
    /// when its requests wait (the over-quota storm); a larger frame is copied out as it arrives all the same.
    /// </summary>
    public const long MaxReadBufferSize = 256 * 1024;

    /// <summary>
    /// A builder without the web defaults: no appsettings.json watched with reload-on-change (its file watcher
    /// covers the whole working directory, recursively, so with data in ./data it woke on every append and held an
    /// inotify watch per partition directory), no ASPNETCORE_ variables, no HTTP. Configuration is the caller's.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseSockets(sockets =>
        {
            // Kestrel's default first waits with a zero-byte read so an idle connection holds no buffer; a Kafka
            // client is rarely idle for long (fetch long polls, heartbeats), and the extra read and readiness
            // wake-up per arrival cost more than the 4 KiB a connection then keeps.
            sockets.WaitForDataBeforeAllocatingBuffer = false;

            // What a connection's input pipe may hold unread before the transport stops reading its socket (TCP then
            // holds the client back): the per-connection bound on request bytes outside queued.max.request.bytes.
            // The broker copies a request out of the pipe as its bytes arrive, once its size fits the budget, and not
            // at all before, so this bounds a connection whose request waits for memory, or that pipelines requests
            // behind one in flight.
            sockets.MaxReadBufferSize = MaxReadBufferSize;
        });
        return builder;
    }
}
