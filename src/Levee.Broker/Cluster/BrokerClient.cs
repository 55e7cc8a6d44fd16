using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Cluster;

/// <summary>
/// A Kafka protocol client for broker-to-broker calls (replica fetches, registration, heartbeats,
/// ISR changes), built on the generated codec. One request at a time per connection, like a Kafka
/// inter-broker channel; a failed call closes the connection and the next call reconnects.
/// </summary>
public sealed class BrokerClient : IAsyncDisposable
{
    private readonly string _host;
    private readonly int _port;
    private readonly string _clientId;
    private readonly TimeSpan? _requestTimeout;
    private readonly ClientSecurity? _security;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private TcpClient? _tcp;
    private Stream? _stream;
    private int _correlationId;

    /// <summary>
    /// A client for the broker at <paramref name="host"/>:<paramref name="port"/>. With
    /// <paramref name="requestTimeout"/>, no call takes longer than that, waiting for the connection included. With
    /// <paramref name="security"/>, the connection is TLS and/or logs in with SASL before its first request.
    /// </summary>
    public BrokerClient(string host, int port, string clientId, TimeSpan? requestTimeout = null, ClientSecurity? security = null)
    {
        if (requestTimeout is { } timeout)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero, nameof(requestTimeout));
        }

        _host = host;
        _port = port;
        _clientId = clientId;
        _requestTimeout = requestTimeout;
        _security = security;
    }

    /// <summary>
    /// A client for another broker's <paramref name="endpoint"/> (its inter-broker listener), over TLS with
    /// <paramref name="tls"/> when that listener's protocol is SSL or SASL_SSL.
    /// </summary>
    public static BrokerClient ForEndpoint(BrokerEndpoint endpoint, string clientId, TimeSpan? requestTimeout, BrokerTls? tls)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var secure = (SecurityProtocol)endpoint.SecurityProtocol is SecurityProtocol.Ssl or SecurityProtocol.SaslSsl;
        return new BrokerClient(endpoint.Host, endpoint.Port, clientId, requestTimeout, secure && tls is not null ? new ClientSecurity { Tls = tls.ClientOptions } : null);
    }

    /// <summary>host:port of the remote broker.</summary>
    public string Address => $"{_host}:{_port}";

    /// <summary>Sends <paramref name="request"/> at <paramref name="version"/> and reads its response.</summary>
    /// <exception cref="IOException">
    /// The connection failed, or the call outlived the client's request timeout (a <see cref="TimeoutException"/>
    /// inside, as a socket timeout is); the connection is closed and the next call reconnects.
    /// </exception>
    public async Task<TResponse> SendAsync<TRequest, TResponse>(ApiKey key, short version, TRequest request, CancellationToken cancellationToken)
        where TRequest : IKafkaMessage
        where TResponse : IKafkaMessage<TResponse>
    {
        if (_requestTimeout is not { } timeout)
        {
            return await SendOnceAsync<TRequest, TResponse>(key, version, request, cancellationToken).ConfigureAwait(false);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            return await SendOnceAsync<TRequest, TResponse>(key, version, request, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Callers already handle a failed connection (IOException) by retrying or answering that the
            // broker is unreachable; a broker that does not answer in time is the same case.
            throw new IOException(
                $"Broker {Address} did not answer {key} within {timeout.TotalMilliseconds:0} ms.",
                new TimeoutException(ex.Message, ex));
        }
    }

    private async Task<TResponse> SendOnceAsync<TRequest, TResponse>(ApiKey key, short version, TRequest request, CancellationToken cancellationToken)
        where TRequest : IKafkaMessage
        where TResponse : IKafkaMessage<TResponse>
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            try
            {
                var stream = await ConnectAsync(cancellationToken).ConfigureAwait(false);
                return await ExchangeAsync<TRequest, TResponse>(stream, key, version, request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or KafkaProtocolException or OperationCanceledException)
            {
                Disconnect();
                if (ex is KafkaProtocolException)
                {
                    throw new IOException($"Broker {Address} sent a malformed {key} response: {ex.Message}", ex);
                }

                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<TResponse> ExchangeAsync<TRequest, TResponse>(Stream stream, ApiKey key, short version, TRequest request, CancellationToken cancellationToken)
        where TRequest : IKafkaMessage
        where TResponse : IKafkaMessage<TResponse>
    {
        var correlationId = ++_correlationId;
        await stream.WriteAsync(Encode(key, version, correlationId, request), cancellationToken).ConfigureAwait(false);
        var prefix = new byte[4];
        await stream.ReadExactlyAsync(prefix, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadInt32BigEndian(prefix);
        if (length < 0 || length > 256 * 1024 * 1024)
        {
            throw new IOException($"Broker {Address} sent a response frame of {length} bytes.");
        }

        var body = new byte[length];
        await stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        return Decode<TResponse>(body, key, version, correlationId);
    }

    /// <summary>
    /// SaslHandshake v1 and SaslAuthenticate v2, as Kafka's clients log in: PLAIN in one token, SCRAM in two rounds with
    /// the server's signature checked. A refusal is a failed connection to callers (an <see cref="IOException"/>).
    /// </summary>
    private async Task LogInAsync(Stream stream, SaslLogin login, CancellationToken cancellationToken)
    {
        var handshake = await ExchangeAsync<SaslHandshakeRequest, SaslHandshakeResponse>(stream, ApiKey.SaslHandshake, 1, new SaslHandshakeRequest { Mechanism = login.Mechanism }, cancellationToken).ConfigureAwait(false);
        if (handshake.ErrorCode != 0)
        {
            throw new IOException($"Broker {Address} does not offer SASL mechanism {login.Mechanism} (it offers {string.Join(", ", handshake.Mechanisms)}).");
        }

        async Task<byte[]> RoundAsync(byte[] token)
        {
            var answer = await ExchangeAsync<SaslAuthenticateRequest, SaslAuthenticateResponse>(stream, ApiKey.SaslAuthenticate, 2, new SaslAuthenticateRequest { AuthBytes = token }, cancellationToken).ConfigureAwait(false);
            return answer.ErrorCode == 0
                ? answer.AuthBytes
                : throw new IOException($"SASL authentication with broker {Address} failed: {answer.ErrorMessage ?? ((ErrorCode)answer.ErrorCode).ToString()}");
        }

        var scram = ScramFormatter.Parse(login.Mechanism);
        if (scram == Levee.Cluster.Metadata.ScramMechanism.Unknown)
        {
            await RoundAsync(System.Text.Encoding.UTF8.GetBytes($"\0{login.Username}\0{login.Password}")).ConfigureAwait(false);
            return;
        }

        var client = new ScramClient(scram, login.Username, login.Password);
        try
        {
            var serverFirst = await RoundAsync(client.ClientFirst()).ConfigureAwait(false);
            var serverFinal = await RoundAsync(client.ClientFinal(serverFirst)).ConfigureAwait(false);
            client.VerifyServerFinal(serverFinal);
        }
        catch (AuthenticationFailedException ex)
        {
            throw new IOException($"SASL authentication with broker {Address} failed: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            Disconnect();
        }
        finally
        {
            _gate.Release();
            _gate.Dispose();
        }
    }

    private async ValueTask<Stream> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_stream is not null)
        {
            return _stream;
        }

        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(_host, _port, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }

        Stream stream = tcp.GetStream();
        if (_security?.Tls is { } tls)
        {
            var secure = new SslStream(stream, leaveInnerStreamOpen: false);
            try
            {
                await secure.AuthenticateAsClientAsync(tls(_host), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException)
            {
                await secure.DisposeAsync().ConfigureAwait(false);
                tcp.Dispose();
                if (ex is OperationCanceledException)
                {
                    throw;
                }

                // A failed handshake is a failed connection to callers: they retry, or answer that the broker is unreachable.
                throw new IOException($"The TLS handshake with broker {Address} failed: {ex.Message}", ex);
            }

            stream = secure;
        }

        _tcp = tcp;
        _stream = stream;
        if (_security?.Sasl is { } login)
        {
            await LogInAsync(stream, login, cancellationToken).ConfigureAwait(false);
        }

        return stream;
    }

    private void Disconnect()
    {
        _stream?.Dispose();
        _tcp?.Dispose();
        _stream = null;
        _tcp = null;
    }

    private byte[] Encode<TRequest>(ApiKey key, short version, int correlationId, TRequest request)
        where TRequest : IKafkaMessage
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.GetSpan(4);
        buffer.Advance(4);
        var writer = new KafkaWriter(buffer);
        new RequestHeader { RequestApiKey = (short)key, RequestApiVersion = version, CorrelationId = correlationId, ClientId = _clientId }
            .Write(ref writer, ApiMessages.RequestHeaderVersion(key, version));
        request.Write(ref writer, version);
        var frame = buffer.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(frame, frame.Length - 4);
        return frame;
    }

    private TResponse Decode<TResponse>(byte[] body, ApiKey key, short version, int correlationId)
        where TResponse : IKafkaMessage<TResponse>
    {
        var reader = new KafkaReader(body);
        var header = ResponseHeader.Read(ref reader, ApiMessages.ResponseHeaderVersion(key, version));
        if (header.CorrelationId != correlationId)
        {
            throw new IOException($"Broker {Address} answered correlation id {header.CorrelationId} to request {correlationId}.");
        }

        return TResponse.Read(ref reader, version);
    }
}
