using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Infrastructure;

/// <summary>
/// A minimal Kafka client over a plain socket using Levee's own codec, for tests that must send
/// exactly chosen bytes (corrupt batches, odd versions, malformed frames) and read raw responses.
/// </summary>
public sealed class RawKafkaClient : IDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;

    // What requests and responses go through: the socket's stream, or TLS over it.
    private readonly Stream _io;
    private int _correlationId;

    private RawKafkaClient(TcpClient tcp, Func<NetworkStream, Stream>? wrap = null)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _io = wrap?.Invoke(_stream) ?? _stream;
    }

    public static async Task<RawKafkaClient> ConnectAsync(string bootstrap)
    {
        var parts = bootstrap.Split(':');
        var tcp = new TcpClient();
        await tcp.ConnectAsync(parts[0], int.Parse(parts[1]));
        return new RawKafkaClient(tcp);
    }

    /// <summary>Connects and completes a TLS handshake with <paramref name="tls"/>; the TLS stream is <see cref="Tls"/>.</summary>
    public static async Task<RawKafkaClient> ConnectTlsAsync(string bootstrap, System.Net.Security.SslClientAuthenticationOptions tls)
    {
        var parts = bootstrap.Split(':');
        var tcp = new TcpClient();
        await tcp.ConnectAsync(parts[0], int.Parse(parts[1]));
        var client = new RawKafkaClient(tcp, stream => new System.Net.Security.SslStream(stream));
        try
        {
            await client.Tls.AuthenticateAsClientAsync(tls);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>The TLS stream of a client made by <see cref="ConnectTlsAsync"/>.</summary>
    public System.Net.Security.SslStream Tls => (System.Net.Security.SslStream)_io;

    private ArrayBufferWriter<byte>? _corked;

    public NetworkStream Stream => _stream;

    /// <summary>This end's address as the broker sees and logs it (127.0.0.1:port, not the IPv4-mapped IPv6 form).</summary>
    public string LocalAddress
    {
        get
        {
            var local = (System.Net.IPEndPoint)_tcp.Client.LocalEndPoint!;
            return new System.Net.IPEndPoint(local.Address.MapToIPv4(), local.Port).ToString();
        }
    }

    /// <summary>Sends an ApiVersions request and checks that it is answered.</summary>
    public async Task ApiVersionsAsync()
    {
        const short version = 3;
        var id = await SendAsync(ApiKey.ApiVersions, version, (ref KafkaWriter w) => new ApiVersionsRequest { ClientSoftwareName = "levee-tests", ClientSoftwareVersion = "1" }.Write(ref w, version));
        Assert.NotNull(await ReceiveAsync(ApiKey.ApiVersions, version, id));
    }

    /// <summary>Writes a request header and a body written by <paramref name="writeBody"/>; returns the correlation id.</summary>
    public async Task<int> SendAsync(ApiKey key, short version, WriteBody writeBody)
    {
        var correlationId = ++_correlationId;
        var buffer = new ArrayBufferWriter<byte>();
        buffer.Write(new byte[4]);
        var writer = new KafkaWriter(buffer);
        new RequestHeader { RequestApiKey = (short)key, RequestApiVersion = version, CorrelationId = correlationId, ClientId = "levee-tests" }
            .Write(ref writer, ApiMessages.RequestHeaderVersion(key, version));
        writeBody(ref writer);
        var bytes = buffer.WrittenSpan.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(bytes, bytes.Length - 4);
        if (_corked is not null)
        {
            _corked.Write(bytes);
        }
        else
        {
            await _io.WriteAsync(bytes);
        }

        return correlationId;
    }

    /// <summary>Holds the frames of the following <see cref="SendAsync"/> calls until <see cref="UncorkAsync"/>.</summary>
    public void Cork() => _corked ??= new ArrayBufferWriter<byte>();

    /// <summary>Sends the held frames in one write, so the broker reads them together.</summary>
    public async Task UncorkAsync()
    {
        var held = _corked;
        _corked = null;
        if (held is not null)
        {
            await _io.WriteAsync(held.WrittenMemory);
        }
    }

    /// <summary>Reads one response frame; returns its body after the response header, or null when the broker closed the connection.</summary>
    public async Task<byte[]?> ReceiveAsync(ApiKey key, short version, int expectedCorrelationId)
    {
        var prefix = new byte[4];
        if (!await ReadExactlyOrEofAsync(prefix))
        {
            return null;
        }

        var frame = new byte[BinaryPrimitives.ReadInt32BigEndian(prefix)];
        if (!await ReadExactlyOrEofAsync(frame))
        {
            return null;
        }

        var reader = new KafkaReader(frame);
        var header = ResponseHeader.Read(ref reader, ApiMessages.ResponseHeaderVersion(key, version));
        Assert.Equal(expectedCorrelationId, header.CorrelationId);
        return frame[reader.Position..];
    }

    /// <summary>True when the broker has closed the connection (reads return end of stream).</summary>
    public async Task<bool> IsClosedByPeerAsync(TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        var one = new byte[1];
        try
        {
            return await _io.ReadAsync(one, cts.Token) == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public delegate void WriteBody(ref KafkaWriter writer);

    public void Dispose()
    {
        _io.Dispose();
        _tcp.Dispose();
    }

    private async Task<bool> ReadExactlyOrEofAsync(byte[] buffer)
    {
        try
        {
            await _io.ReadExactlyAsync(buffer);
            return true;
        }
        catch (EndOfStreamException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
