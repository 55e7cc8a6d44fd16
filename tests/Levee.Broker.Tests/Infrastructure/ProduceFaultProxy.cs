using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Infrastructure;

/// <summary>
/// A TCP proxy between Kafka clients and one broker that injects Produce faults. Metadata responses are rewritten so
/// clients keep coming back through the proxy instead of connecting to the broker's own address. Two faults:
/// <list type="bullet">
/// <item><see cref="ShouldCut"/>: a lost acknowledgement. The chosen Produce request is forwarded to the broker, the
/// broker's response to it is swallowed, and the client's connection is cut. The broker has appended the records;
/// the client never hears so, and must retry.</item>
/// <item><see cref="RefuseFirstProduce"/>: a first batch refused while the next one is already in flight. The first
/// Produce request is held (with whatever the client sends after it) until the client sends its next Produce
/// request; then the first is forwarded pointed at partitions the broker does not host, so the broker writes nothing
/// and answers UNKNOWN_TOPIC_OR_PARTITION, and the next one follows as sent. The refusal reaches the client with the
/// partition indexes it asked for, and in order. This is what a broker answers in the moment after a topic is
/// created when it does not host the partition yet (Kafka answers the same), with the timing of a busy machine.</item>
/// </list>
/// </summary>
public sealed class ProduceFaultProxy : IAsyncDisposable
{
    private const int MaxFrame = 100 * 1024 * 1024;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _brokerHost;
    private readonly int _brokerPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<TcpClient> _sockets = [];
    private readonly Task _acceptLoop;
    private readonly TaskCompletionSource _firstProduceHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _produceRequests;
    private int _cuts;
    private int _refusals;
    private int _holding;

    public ProduceFaultProxy(string brokerBootstrap)
    {
        var parts = brokerBootstrap.Split(':');
        _brokerHost = parts[0];
        _brokerPort = int.Parse(parts[1]);
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    private enum Fault
    {
        None,
        Cut,
        Refused,
    }

    /// <summary>Given the 1-based number of a Produce request through the proxy, whether to lose its acknowledgement.</summary>
    public Func<int, bool> ShouldCut { get; set; } = _ => false;

    /// <summary>Whether the first Produce request through the proxy is refused once the next one is in flight (see the class).</summary>
    public bool RefuseFirstProduce { get; init; }

    /// <summary>Completes when <see cref="RefuseFirstProduce"/> holds the first Produce request, waiting for the client's next one.</summary>
    public Task FirstProduceHeld => _firstProduceHeld.Task;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string BootstrapServers => $"127.0.0.1:{Port}";

    /// <summary>Produce requests forwarded so far.</summary>
    public int ProduceRequests => Volatile.Read(ref _produceRequests);

    /// <summary>Acknowledgements swallowed (connections cut) so far.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    /// <summary>Produce requests refused (<see cref="RefuseFirstProduce"/>) so far.</summary>
    public int Refusals => Volatile.Read(ref _refusals);

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

    // A partition index the broker hosts no partition of, and back: -1 - i is negative for every i >= 0.
    private static int Redirect(int index) => -1 - index;

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
        // correlation id -> (api key, version, fault) of requests in flight on this connection
        var inFlight = new ConcurrentDictionary<int, (ApiKey Key, short Version, Fault Fault)>();
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

    private async Task PumpRequestsAsync(NetworkStream from, NetworkStream to, ConcurrentDictionary<int, (ApiKey, short, Fault)> inFlight, CancellationToken token)
    {
        // The refused request and what the client sent after it, held until its next Produce request arrives.
        var held = new List<(byte[] Frame, ApiKey Key, short Version, int CorrelationId)>();
        while (await ReadFrameAsync(from, token) is { } frame)
        {
            var key = (ApiKey)BinaryPrimitives.ReadInt16BigEndian(frame.AsSpan(4));
            var version = BinaryPrimitives.ReadInt16BigEndian(frame.AsSpan(6));
            var correlationId = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(8));
            if (held.Count == 0 && key == ApiKey.Produce && RefuseFirstProduce && Interlocked.CompareExchange(ref _holding, 1, 0) == 0)
            {
                held.Add((frame, key, version, correlationId));
                _firstProduceHeld.TrySetResult();
                continue;
            }

            if (held.Count > 0)
            {
                held.Add((frame, key, version, correlationId));
                if (key != ApiKey.Produce)
                {
                    continue;
                }

                // Both produce requests are now in flight at the client: release everything, in order.
                var (first, _, firstVersion, firstId) = held[0];
                await ForwardAsync(RedirectProduce(first, firstVersion), ApiKey.Produce, firstVersion, firstId, Fault.Refused);
                foreach (var (heldFrame, heldKey, heldVersion, heldId) in held.Skip(1))
                {
                    await ForwardAsync(heldFrame, heldKey, heldVersion, heldId, Fault.None);
                }

                held.Clear();
                continue;
            }

            await ForwardAsync(frame, key, version, correlationId, Fault.None);
        }

        async Task ForwardAsync(byte[] frame, ApiKey key, short version, int correlationId, Fault fault)
        {
            if (key == ApiKey.Produce && fault == Fault.None && ShouldCut(Interlocked.Increment(ref _produceRequests)))
            {
                fault = Fault.Cut;
            }

            inFlight[correlationId] = (key, version, fault);
            await to.WriteAsync(frame, token);
        }
    }

    private async Task PumpResponsesAsync(NetworkStream from, NetworkStream to, ConcurrentDictionary<int, (ApiKey Key, short Version, Fault Fault)> inFlight, CancellationTokenSource cut)
    {
        while (await ReadFrameAsync(from, cut.Token) is { } frame)
        {
            var correlationId = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(4));
            if (!inFlight.TryRemove(correlationId, out var request))
            {
                throw new InvalidOperationException($"Response to unknown correlation id {correlationId}.");
            }

            if (request.Fault == Fault.Cut)
            {
                // The broker has answered, so the records are in its log: drop the answer and the connection.
                Interlocked.Increment(ref _cuts);
                await cut.CancelAsync();
                return;
            }

            if (request.Fault == Fault.Refused)
            {
                Interlocked.Increment(ref _refusals);
                frame = RestoreProduceResponse(frame, request.Version);
            }
            else if (request.Key == ApiKey.Metadata)
            {
                frame = RewriteMetadata(frame, request.Version);
            }

            await to.WriteAsync(frame, cut.Token);
        }
    }

    // The first batch's partitions, pointed at ones the broker does not host.
    private static byte[] RedirectProduce(byte[] frame, short version) =>
        Rewrite<RequestHeader, ProduceRequest>(frame, ApiMessages.RequestHeaderVersion(ApiKey.Produce, version), version, request =>
        {
            foreach (var partition in request.TopicData.SelectMany(t => t.PartitionData))
            {
                partition.Index = Redirect(partition.Index);
            }
        });

    // The broker's refusal of it, with the partition indexes the client asked for.
    private static byte[] RestoreProduceResponse(byte[] frame, short version) =>
        Rewrite<ResponseHeader, ProduceResponse>(frame, ApiMessages.ResponseHeaderVersion(ApiKey.Produce, version), version, response =>
        {
            foreach (var partition in response.Responses.SelectMany(t => t.PartitionResponses))
            {
                partition.Index = Redirect(partition.Index);
            }
        });

    private byte[] RewriteMetadata(byte[] frame, short version) =>
        Rewrite<ResponseHeader, MetadataResponse>(frame, ApiMessages.ResponseHeaderVersion(ApiKey.Metadata, version), version, response =>
        {
            foreach (var broker in response.Brokers)
            {
                broker.Host = "127.0.0.1";
                broker.Port = Port;
            }
        });

    /// <summary>Reads the header and body of a size-prefixed frame, applies <paramref name="change"/> to the body, and writes the frame again.</summary>
    private static byte[] Rewrite<THeader, TBody>(byte[] frame, short headerVersion, short version, Action<TBody> change)
        where THeader : IKafkaMessage<THeader>
        where TBody : IKafkaMessage<TBody>
    {
        var reader = new KafkaReader(frame.AsMemory(4));
        var header = THeader.Read(ref reader, headerVersion);
        var body = TBody.Read(ref reader, version);
        change(body);
        var buffer = new ArrayBufferWriter<byte>();
        buffer.Write(new byte[4]);
        var writer = new KafkaWriter(buffer);
        header.Write(ref writer, headerVersion);
        body.Write(ref writer, version);
        var bytes = buffer.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(bytes, bytes.Length - 4);
        return bytes;
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
