using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Protocol;
using Levee.Protocol.Framing;
using Levee.Protocol.Messages;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Network;

/// <summary>
/// Serves the Kafka connections of Kestrel's transport, one call per connection with the listener it came in on.
/// Each connection gets its <see cref="ConnectionState"/>, which every one of its requests carries. Requests are read as size-prefixed frames and
/// handled one after another in arrival order, as Kafka does (a client may pipeline many; responses
/// leave in the same order). Output is flushed once no further complete request is buffered, so a
/// pipelining client gets its responses in few writes.
/// </summary>
public sealed partial class KafkaConnectionHandler(RequestDispatcher dispatcher, SaslAuthenticator authenticator, BrokerOptions options, ListenerShutdown shutdown, RequestMemoryBudget requestMemory, TenantRequestMemory tenantMemory, TenantConnections tenantConnections, TimeProvider time, ILogger<KafkaConnectionHandler> logger)
{
    /// <summary>Serves <paramref name="connection"/>, accepted on <paramref name="listener"/>, until it closes.</summary>
    public async Task ServeAsync(ConnectionContext connection, KafkaListener listener)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var state = new ConnectionState(listener, connection.RemoteEndPoint);
        if (connection.Features.Get<TlsPeer>() is { } peer)
        {
            state.Authenticate(peer.Principal);
        }

        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        using var responseBuffer = new FrameBuffer();
        using var frames = new RequestFrameReader(requestMemory, options.SocketRequestMaxBytes);

        // connections.max.idle.ms and request.arrival.timeout.ms: the read loop tells the deadlines whose turn it is.
        using var deadlines = new ConnectionDeadlines(time, options.ConnectionsMaxIdleMs, options.RequestArrivalTimeoutMs);

        // A stopping broker closes its connections at once rather than waiting out Kestrel's
        // graceful-shutdown timeout: clients (and other brokers' replica fetchers) reconnect elsewhere.
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed, shutdown.Token, deadlines.Token);
        var aborted = closing.Token;

        // Bytes of a length prefix not all in yet, left in the transport: the request has started arriving all the same.
        var prefixBytes = 0L;
        try
        {
            // A client certificate of a tenant's user puts the connection in the tenant's namespace, as SCRAM does.
            if (!await authenticator.BindCertificateAsync(state, aborted).ConfigureAwait(false))
            {
                return;
            }

            while (true)
            {
                var result = await input.ReadAsync(aborted).ConfigureAwait(false);
                var buffer = result.Buffer;
                var close = false;
                var completed = false;
                try
                {
                    while (true)
                    {
                        var status = frames.TryRead(ref buffer);
                        if (status == RequestFrameStatus.AwaitingMemory)
                        {
                            // queued.max.request.bytes is spent: nothing more is read (TCP holds the client back) until
                            // other requests give back room for this one. Back-pressure, not a slow client: no deadline
                            // runs, and the request's arrival clock starts once it is read.
                            deadlines.Busy();
                            await frames.WaitForMemoryAsync(aborted).ConfigureAwait(false);
                            continue;
                        }

                        if (status == RequestFrameStatus.Incomplete)
                        {
                            break;
                        }

                        if (status == RequestFrameStatus.Invalid)
                        {
                            LogInvalidFrame(state.Remote, frames.DeclaredLength, options.SocketRequestMaxBytes);
                            close = true;
                            break;
                        }

                        // The broker's turn, however long the request takes (a long-poll fetch, a quota wait).
                        deadlines.Busy();
                        Outcome outcome;
                        var throttleMs = 0;
                        try
                        {
                            (outcome, throttleMs) = state.Sasl is { RawTokens: true }
                                ? (await ProcessRawSaslTokenAsync(state, frames.Frame, output, aborted).ConfigureAwait(false), 0)
                                : await ProcessAsync(connection, state, frames, responseBuffer, output, aborted).ConfigureAwait(false);
                        }
                        finally
                        {
                            frames.ReleaseFrame();
                        }

                        if (state.Tenant is { } tenant && frames.TenantBudget is null)
                        {
                            frames.TenantBudget = tenantMemory.For(tenant.Tenant.Name);
                        }

                        if (outcome == Outcome.Close)
                        {
                            close = true;
                            break;
                        }

                        if (state.CloseAfterResponse)
                        {
                            // A failed authentication: its answer is the connection's last, as in Kafka.
                            await output.FlushAsync(aborted).ConfigureAwait(false);
                            close = true;
                            break;
                        }

                        // Each response goes out as soon as it is ready, as Kafka sends it: one held back for the
                        // next pipelined request would wait for that request too (a long-poll Fetch: up to its
                        // max wait). Kestrel's transport coalesces flushes that come faster than it sends. From here it is
                        // the client's turn: one that does not take its response is idle, and the idle clock runs while
                        // the flush waits for it.
                        deadlines.Idle();
                        if (outcome == Outcome.Responded && (await output.FlushAsync(aborted).ConfigureAwait(false)).IsCompleted)
                        {
                            completed = true;
                            break;
                        }

                        // KIP-219: a client over its quota has its answer at once, then its connection is muted for the
                        // throttle time: no further request of it is read or handled, so none of its bytes pile up here
                        // beyond what the transport buffers before TCP pushes back.
                        if (throttleMs > 0)
                        {
                            deadlines.Busy();
                            await Task.Delay(TimeSpan.FromMilliseconds(throttleMs), time, aborted).ConfigureAwait(false);
                        }
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                // Part of a request in (of its frame, or of its length prefix, left in the transport) or none of one.
                prefixBytes = buffer.Length;
                if (frames.IsPartial || prefixBytes > 0)
                {
                    deadlines.Arriving();
                }
                else
                {
                    deadlines.Idle();
                }

                if (completed)
                {
                    break;
                }

                if (close || result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (deadlines.Expired == ConnectionDeadline.Idle)
        {
            LogIdle(state.Remote, options.ConnectionsMaxIdleMs);
        }
        catch (OperationCanceledException) when (deadlines.Expired == ConnectionDeadline.Arrival)
        {
            // The partly read frame's buffer and memory go back with the reader, below.
            if (frames.IsPartial)
            {
                LogArrivalTimeout(state.Remote, frames.DeclaredLength, frames.Received, options.RequestArrivalTimeoutMs);
            }
            else
            {
                LogPrefixArrivalTimeout(state.Remote, prefixBytes, options.RequestArrivalTimeoutMs);
            }
        }
        catch (OperationCanceledException)
        {
            // The connection closed or the broker is stopping.
        }
        catch (ConnectionResetException)
        {
            // The client went away mid-request.
        }
        finally
        {
            if (state.Tenant is { } tenant)
            {
                tenantConnections.Close(tenant.Tenant.Name);
            }

            await input.CompleteAsync().ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
        }
    }

    private enum Outcome
    {
        Responded,
        NoResponse,
        Close,
    }

    // After SaslHandshake v0 the client sends its SASL tokens as bare size-prefixed frames, and gets the server's
    // the same way (Kafka's original SASL framing, which kafka-python 2.0 uses); a failure closes the connection.
    private async ValueTask<Outcome> ProcessRawSaslTokenAsync(ConnectionState state, ReadOnlyMemory<byte> payload, PipeWriter output, CancellationToken aborted)
    {
        var outcome = await authenticator.StepAsync(state, payload.ToArray(), aborted).ConfigureAwait(false);
        if (outcome.Step == ScramStep.Failed)
        {
            return Outcome.Close;
        }

        var frame = output.GetSpan(4 + outcome.Response.Length);
        BinaryPrimitives.WriteInt32BigEndian(frame, outcome.Response.Length);
        outcome.Response.CopyTo(frame[4..]);
        output.Advance(4 + outcome.Response.Length);
        return Outcome.Responded;
    }

    private async ValueTask<(Outcome Outcome, int ThrottleMs)> ProcessAsync(ConnectionContext connection, ConnectionState state, RequestFrameReader frames, FrameBuffer responseBuffer, PipeWriter output, CancellationToken aborted)
    {
        // The frame was copied once into a pooled buffer: handlers may keep slices of it (records) until
        // they complete or release it, and the produce path patches offsets into batches in place.
        var frame = frames.Frame;
        try
        {
            if (!TryReadHeader(frame, out var header, out var bodyStart, out var problem))
            {
                LogMalformedRequest(state.Remote, problem);
                return (Outcome.Close, 0);
            }

            var context = new RequestContext
            {
                ApiKey = (ApiKey)header.RequestApiKey,
                ApiVersion = header.RequestApiVersion,
                CorrelationId = header.CorrelationId,
                ClientId = header.ClientId,
                Connection = state,
                Aborted = aborted,
                FrameRelease = frames.Release,
            };

            responseBuffer.Reset();
            WriteResponseHeader(context, responseBuffer);
            bool respond;
            try
            {
                respond = await dispatcher.DispatchAsync(context, frame[bodyStart..], responseBuffer).ConfigureAwait(false);
            }
            catch (KafkaProtocolException ex)
            {
                LogMalformedBody(state.Remote, context.ApiKey, context.ApiVersion, ex.Message);
                return (Outcome.Close, 0);
            }
            catch (UnsupportedRequestException ex)
            {
                LogUnsupported(state.Remote, ex.Message);
                return (Outcome.Close, 0);
            }

            if (!respond)
            {
                return (Outcome.NoResponse, context.ThrottleTimeMs);
            }

            try
            {
                // Record bytes (Fetch) go from the segment files straight into the pipe's memory here.
                responseBuffer.WriteFrameTo(output);
            }
            catch (IOException ex)
            {
                // Part of the frame is in the pipe already: only dropping the connection keeps the client in step.
                LogResponseFailed(state.Remote, context.ApiKey, ex.Message);
                connection.Abort(new ConnectionAbortedException("A response could not be completed.", ex));
                return (Outcome.Close, 0);
            }

            return (Outcome.Responded, context.ThrottleTimeMs);
        }
        finally
        {
            // A response not written (an error above) lets go of the records it referenced, file handles included.
            responseBuffer.Reset();
        }
    }

    private static bool TryReadHeader(ReadOnlyMemory<byte> frame, out RequestHeader header, out int bodyStart, out string problem)
    {
        header = null!;
        bodyStart = 0;
        if (frame.Length < 8)
        {
            problem = $"frame of {frame.Length} bytes is too short for a request header";
            return false;
        }

        var apiKey = BinaryPrimitives.ReadInt16BigEndian(frame.Span);
        var apiVersion = BinaryPrimitives.ReadInt16BigEndian(frame.Span[2..]);
        if (!ApiMessages.IsKnown(apiKey))
        {
            problem = $"unknown API key {apiKey}";
            return false;
        }

        try
        {
            var reader = new KafkaReader(frame);
            header = RequestHeader.Read(ref reader, ApiMessages.RequestHeaderVersion((ApiKey)apiKey, apiVersion));
            bodyStart = reader.Position;
            problem = string.Empty;
            return true;
        }
        catch (KafkaProtocolException ex)
        {
            problem = $"malformed request header: {ex.Message}";
            return false;
        }
    }

    private static void WriteResponseHeader(RequestContext context, IBufferWriter<byte> output)
    {
        var writer = new KafkaWriter(output);
        var version = ApiMessages.ResponseHeaderVersion(context.ApiKey, Math.Min(context.ApiVersion, ApiMessages.HighestVersion(context.ApiKey)));
        new ResponseHeader { CorrelationId = context.CorrelationId }.Write(ref writer, version);
    }

    [LoggerMessage(EventName = "InvalidFrame", Level = LogLevel.Warning, Message = "Closing connection from {Remote}: frame length {Length} is outside 0..{Max} (socket.request.max.bytes)")]
    private partial void LogInvalidFrame(string? remote, int length, int max);

    [LoggerMessage(EventName = "Idle", Level = LogLevel.Information, Message = "Closing connection from {Remote}: idle for {IdleMs} ms (connections.max.idle.ms)")]
    private partial void LogIdle(string? remote, long idleMs);

    [LoggerMessage(EventName = "ArrivalTimeout", Level = LogLevel.Warning, Message = "Closing connection from {Remote}: its request, of {Length} bytes declared, had {Received} of them {TimeoutMs} ms after it started arriving (request.arrival.timeout.ms)")]
    private partial void LogArrivalTimeout(string? remote, int length, int received, long timeoutMs);

    [LoggerMessage(EventName = "PrefixArrivalTimeout", Level = LogLevel.Warning, Message = "Closing connection from {Remote}: its request had {Received} of the 4 bytes of its length prefix {TimeoutMs} ms after it started arriving (request.arrival.timeout.ms)")]
    private partial void LogPrefixArrivalTimeout(string? remote, long received, long timeoutMs);

    [LoggerMessage(EventName = "MalformedRequest", Level = LogLevel.Warning, Message = "Closing connection from {Remote}: {Problem}")]
    private partial void LogMalformedRequest(string? remote, string problem);

    [LoggerMessage(EventName = "MalformedBody", Level = LogLevel.Warning, Message = "Closing connection from {Remote}: malformed {ApiKey} v{Version} request: {Problem}")]
    private partial void LogMalformedBody(string? remote, ApiKey apiKey, short version, string problem);

    [LoggerMessage(EventName = "Unsupported", Level = LogLevel.Warning, Message = "Closing connection from {Remote}: {Problem}")]
    private partial void LogUnsupported(string? remote, string problem);

    [LoggerMessage(EventName = "ResponseFailed", Level = LogLevel.Warning, Message = "Aborting connection from {Remote}: its {ApiKey} response could not be completed: {Problem}")]
    private partial void LogResponseFailed(string? remote, ApiKey apiKey, string problem);
}
