using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Network;

/// <summary>
/// <c>max.connections</c>: the most connections the broker serves at once, over all its listeners. A connection
/// beyond it is closed as soon as it is accepted, by the first middleware of its listener: before its TLS handshake,
/// before the broker gives it any buffer or state, and with one log line every <see cref="LogInterval"/> at most
/// however many are refused. Connections to the inter-broker listener are counted but never refused, as in Kafka
/// (KIP-402): a broker's replica fetches and controller traffic must not be locked out by clients.
/// </summary>
/// <remarks>
/// Kafka's acceptor stops accepting at the limit and leaves further connections in the listen backlog until one
/// closes; Levee closes them, so a client is told at once and retries after its reconnect backoff, possibly with
/// another broker, rather than waiting on a connection that is not served. Kafka also closes the least recently
/// used client connection to make room for an inter-broker one; Levee lets the inter-broker connection exceed the
/// limit instead.
/// </remarks>
public sealed partial class ConnectionLimit(BrokerOptions options, TimeProvider time, ILogger<ConnectionLimit> logger)
{
    /// <summary>The least time between two log lines about refused connections.</summary>
    public static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private int _open;
    private long _refused;
    private long _refusedUnlogged;
    private long _lastLogged;

    /// <summary>Connections open now, on every listener.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Connections refused since the broker started.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Puts the limit in front of everything else on <paramref name="listen"/>, the connections of <paramref name="listener"/>.</summary>
    public void Use(ListenOptions listen, KafkaListener listener)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(listener);
        listen.Use(next => connection => ServeAsync(next, connection, listener));
    }

    private Task ServeAsync(ConnectionDelegate next, ConnectionContext connection, KafkaListener listener)
    {
        if (Interlocked.Increment(ref _open) > options.MaxConnections && !listener.IsInterBroker)
        {
            // Returning closes the connection: Kestrel completes its transport and the client reads end of stream.
            Interlocked.Decrement(ref _open);
            Refuse(connection, listener);
            return Task.CompletedTask;
        }

        return ServeCountedAsync(next, connection);
    }

    private async Task ServeCountedAsync(ConnectionDelegate next, ConnectionContext connection)
    {
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    private void Refuse(ConnectionContext connection, KafkaListener listener)
    {
        Interlocked.Increment(ref _refused);
        Interlocked.Increment(ref _refusedUnlogged);

        // A flood of connections must not become a flood of log lines: one line per interval, counting the others.
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastLogged);
        if ((last != 0 && time.GetElapsedTime(last, now) < LogInterval) || Interlocked.CompareExchange(ref _lastLogged, now, last) != last)
        {
            return;
        }

        LogRefused(connection.RemoteEndPoint?.ToString(), listener.Name, options.MaxConnections, Interlocked.Exchange(ref _refusedUnlogged, 0));
    }

    [LoggerMessage(EventName = "Refused", Level = LogLevel.Warning, Message = "Refusing connection from {Remote} on listener {Listener}: max.connections ({Max}) connections are open; {Refused} refused since the previous such line (one every 10 s at most)")]
    private partial void LogRefused(string? remote, string listener, int max, long refused);
}
