using System.Diagnostics;
using System.Net;
using Levee.Protocol.Messages;

namespace Levee.Broker.Requests;

/// <summary>What a handler knows about the request it serves: its header and the connection it came on.</summary>
public sealed class RequestContext
{
    /// <summary>The API of the request.</summary>
    public required ApiKey ApiKey { get; init; }

    /// <summary>The version the client used.</summary>
    public required short ApiVersion { get; init; }

    /// <summary>The client's correlation id.</summary>
    public required int CorrelationId { get; init; }

    /// <summary>The client id from the request header, if any.</summary>
    public string? ClientId { get; init; }

    /// <summary>The connection the request came on: its listener and principal.</summary>
    public required ConnectionState Connection { get; init; }

    /// <summary>The remote end of the connection.</summary>
    public EndPoint? RemoteEndPoint => Connection.RemoteEndPoint;

    /// <summary>
    /// How long the sender is throttled for being over a quota, in ms (KIP-219): set by the request pipeline and by
    /// handlers that measure what they serve (Fetch); the response carries it and the connection is not read for that
    /// long after it is sent.
    /// </summary>
    public int ThrottleTimeMs { get; set; }

    /// <summary>The stopwatch timestamp at which the request's own work began: after any wait for admission.</summary>
    public long WorkStarted { get; set; }

    /// <summary>
    /// The request-time quota (<c>request_percentage</c>) that applies to the sender, as a recorder of the time the
    /// request took that returns the throttle time in ms; null when none applies.
    /// </summary>
    public Func<TimeSpan, int>? RequestTimeQuota { get; set; }

    /// <summary>How long the handler waited on others (a long poll, followers, a rebalance): left out of the request's time.</summary>
    public TimeSpan Waited => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _waitedTicks));

    /// <summary>The time the request took itself: since <see cref="WorkStarted"/>, less <see cref="Waited"/>.</summary>
    public TimeSpan WorkTime => Stopwatch.GetElapsedTime(WorkStarted) - Waited;

    private long _waitedTicks;

    /// <summary>Counts the time until the scope is disposed as waiting on others, not as the request's own work.</summary>
    public WaitScope Waiting() => new(this, Stopwatch.GetTimestamp());

    /// <summary>Cancelled when the connection closes or the broker stops.</summary>
    public CancellationToken Aborted { get; init; }

    /// <summary>What <see cref="ReleaseRequestBytes"/> calls: the connection's release of the request frame.</summary>
    public Action? FrameRelease { private get; init; }

    /// <summary>
    /// Lets go of the request's bytes before the response, giving their size back to <c>queued.max.request.bytes</c>:
    /// for a handler that keeps nothing of the request (no slice of its body) and may then wait long, as an acks=all
    /// Produce waits for the ISR once its records are appended (Kafka frees the request's buffer there too). Without
    /// it a Produce waiting for followers would hold budget that those followers' own fetches may need.
    /// </summary>
    public void ReleaseRequestBytes() => FrameRelease?.Invoke();

    /// <summary>A span of waiting (see <see cref="Waiting"/>).</summary>
    public readonly struct WaitScope(RequestContext context, long started) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => Interlocked.Add(ref context._waitedTicks, Stopwatch.GetTimestamp() - started);
    }
}
