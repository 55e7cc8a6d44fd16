using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Infrastructure;

/// <summary>
/// A TCP proxy between Kafka clients and one broker that loses acknowledgements on purpose: when
/// <see cref="ShouldCut"/> picks a Produce request, the request is forwarded to the broker, the broker's
/// response to it is swallowed, and the client's connection is cut. The broker has appended the records; the
/// client never hears so, and must retry. Metadata responses are rewritten so clients keep coming back
/// through the proxy instead of connecting to the broker's own address.
/// </summary>
public sealed class CuttingProxy : IAsyncDisposable
{
    private const int MaxFrame = 100 * 1024 * 1024;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _brokerHost;
    private readonly int _brokerPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<TcpClient> _sockets = [];
    private readonly Task _acceptLoop;
    private int _produceRequests;
    private int _cuts;

    public CuttingProxy(string brokerBootstrap)
    {
        var parts = brokerBootstrap.Split(':');
        _brokerHost = parts[0];
        _brokerPort = int.Parse(parts[1]);
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Given the 1-based number of a Produce request through the proxy, whether to lose its acknowledgement.</summary>
    public Func<int, bool> ShouldCut { get; set; } = _ => false;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string BootstrapServers => $"127.0.0.1:{Port}";

    /// <summary>Produce requests forwarded so far.</summary>
    public int ProduceRequests => Volatile.Read(ref _produceRequests);

    /// <summary>Acknowledgements swallowed (connections cut) so far.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        try
        {
            await _acceptLoop;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            var broker = new TcpClient();
            await broker.ConnectAsync(_brokerHost, _brokerPort, _stop.Token);
            _sockets.Add(client);
            _sockets.Add(broker);
            _ = RunConnectionAsync(client, broker);
        }
    }

    private async Task RunConnectionAsync(TcpClient client, TcpClient broker)
    {
        // correlation id -> (api key, version, cut?) of requests in flight on this connection
        var inFlight = new ConcurrentDictionary<int, (ApiKey Key, short Version, bool Cut)>();
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var toBroker = PumpRequestsAsync(client.GetStream(), broker.GetStream(), inFlight, cut.Token);
        var toClient = PumpResponsesAsync(broker.GetStream(), client.GetStream(), inFlight, cut);
        try
        {
            await Task.WhenAny(toBroker, toClient);
        }
        finally
        {
            await cut.CancelAsync();
            client.Dispose();
            broker.Dispose();
        }
    }

    private async Task PumpRequestsAsync(NetworkStream from, NetworkStream to, ConcurrentDictionary<int, (ApiKey, short, bool)> inFlight, CancellationToken token)
    {
        while (await ReadFrameAsync(from, token) is { } frame)
        {
            var key = (ApiKey)BinaryPrimitives.ReadInt16BigEndian(frame.AsSpan(4));
            var version = BinaryPrimitives.ReadInt16BigEndian(frame.AsSpan(6));
            var correlationId = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(8));
            var cutThis = key == ApiKey.Produce && ShouldCut(Interlocked.Increment(ref _produceRequests));
            inFlight[correlationId] = (key, version, cutThis);
            await to.WriteAsync(frame, token);
        }
    }

    private async Task PumpResponsesAsync(NetworkStream from, NetworkStream to, ConcurrentDictionary<int, (ApiKey Key, short Version, bool Cut)> inFlight, CancellationTokenSource cut)
    {
        while (await ReadFrameAsync(from, cut.Token) is { } frame)
        {
            var correlationId = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(4));
            if (!inFlight.TryRemove(correlationId, out var request))
            {
                throw new InvalidOperationException($"Response to unknown correlation id {correlationId}.");
            }

            if (request.Cut)
            {
                // The broker has answered, so the records are in its log: drop the answer and the connection.
                Interlocked.Increment(ref _cuts);
                await cut.CancelAsync();
                return;
            }

            if (request.Key == ApiKey.Metadata)
            {
                frame = RewriteMetadata(frame, request.Version);
            }

            await to.WriteAsync(frame, cut.Token);
        }
    }

    private byte[] RewriteMetadata(byte[] frame, short version)
    {
        var reader = new KafkaReader(frame.AsMemory(4));
        var headerVersion = ApiMessages.ResponseHeaderVersion(ApiKey.Metadata, version);
        var header = ResponseHeader.Read(ref reader, headerVersion);
        var response = MetadataResponse.Read(ref reader, version);
        foreach (var broker in response.Brokers)
        {
            broker.Host = "127.0.0.1";
            broker.Port = Port;
        }

        var buffer = new ArrayBufferWriter<byte>();
        buffer.Write(new byte[4]);
        var writer = new KafkaWriter(buffer);
        header.Write(ref writer, headerVersion);
        response.Write(ref writer, version);
        var rewritten = buffer.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(rewritten, rewritten.Length - 4);
        return rewritten;
    }

    /// <summary>One size-prefixed frame including its 4-byte prefix, or null at end of stream or when cut.</summary>
    private static async Task<byte[]?> ReadFrameAsync(NetworkStream stream, CancellationToken token)
    {
        var prefix = new byte[4];
        try
        {
            await stream.ReadExactlyAsync(prefix, token);
            var size = BinaryPrimitives.ReadInt32BigEndian(prefix);
            if (size is < 8 or > MaxFrame)
            {
                return null;
            }

            var frame = new byte[4 + size];
            prefix.CopyTo(frame, 0);
            await stream.ReadExactlyAsync(frame.AsMemory(4), token);
            return frame;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            return null;
        }
    }
}
