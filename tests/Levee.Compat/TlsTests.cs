using Levee.Compat.Infrastructure;
using Levee.Tests.Tls;

namespace Levee.Compat;

/// <summary>kcat and confluent-kafka-python against `levee serve` with an SSL listener, certificates made by the test.</summary>
public sealed class TlsTests : IAsyncLifetime
{
    private readonly TestCertificates _certificates = TestCertificates.Create();
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync()
    {
        var keystore = _certificates.WriteServerKeystore().Path;

        // --port describes the listener named PLAINTEXT; the protocol map makes it speak SSL.
        _levee = await LeveeProcess.StartAsync(
            null,
            null,
            "--set", "listener.security.protocol.map=PLAINTEXT:SSL",
            "--set", "ssl.keystore.location=" + keystore,
            "--set", "ssl.truststore.location=" + _certificates.CaFile,
            "--set", "ssl.client.auth=requested");
    }

    public async Task DisposeAsync()
    {
        await _levee.DisposeAsync();
        _certificates.Dispose();
    }

    [Fact]
    public async Task Kcat_OverSsl_VerifyingTheBroker_ProducesAndConsumes()
    {
        string[] ssl = ["-b", _levee.BootstrapServers, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + _certificates.CaFile];
        var produce = await Tool.RunAsync("kcat", [.. ssl, "-P", "-t", "kcat-tls", "-K:"], stdin: "k1:one\nk2:two\n");
        Assert.True(produce.ExitCode == 0, produce.StdErr);

        var consume = await Tool.RunAsync("kcat", [.. ssl, "-C", "-t", "kcat-tls", "-o", "beginning", "-e", "-f", "%k:%s\n"]);
        Assert.True(consume.ExitCode == 0, consume.StdErr);
        Assert.Equal("k1:one\nk2:two\n", consume.StdOut);
    }

    [Fact]
    public async Task Kcat_WithAClientCertificate_IsServed()
    {
        var (certificate, key) = _certificates.WriteClientFiles("CN=kcat-user");
        string[] ssl = ["-b", _levee.BootstrapServers, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + _certificates.CaFile, "-X", "ssl.certificate.location=" + certificate, "-X", "ssl.key.location=" + key];
        var list = await Tool.RunAsync("kcat", [.. ssl, "-L"]);
        Assert.True(list.ExitCode == 0, list.StdErr);
        Assert.Contains($"broker 1 at 127.0.0.1:{_levee.Port}", list.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlaintextKcat_OnTheTlsPort_IsClosedWithALogLine_AndTlsClientsAreStillServed()
    {
        var plaintext = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-L", "-m", "3"]);
        Assert.NotEqual(0, plaintext.ExitCode);
        Assert.Contains("the TLS handshake failed", _levee.Output, StringComparison.Ordinal);

        var tls = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + _certificates.CaFile, "-L"]);
        Assert.True(tls.ExitCode == 0, tls.StdErr);
        Assert.False(_levee.HasExited);
    }

    [Fact]
    public async Task ConfluentPython_OverSsl_WithAClientCertificate_ProducesAndConsumes()
    {
        const string script = """
            import sys, time
            from confluent_kafka import Producer, Consumer, KafkaException
            bootstrap, ca, cert, key, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
            ssl = {'bootstrap.servers': bootstrap, 'security.protocol': 'SSL', 'ssl.ca.location': ca,
                   'ssl.certificate.location': cert, 'ssl.key.location': key}
            acked = []
            def on_delivery(err, msg):
                if err is not None:
                    raise KafkaException(err)
                acked.append(msg.offset())
            producer = Producer(dict(ssl, acks='all'))
            for i in range(count):
                producer.produce('py-tls', key=b'k%d' % i, value=b'v%d' % i, on_delivery=on_delivery)
            assert producer.flush(30) == 0
            assert len(acked) == count, len(acked)
            consumer = Consumer(dict(ssl, **{'group.id': 'py-tls-group', 'auto.offset.reset': 'earliest'}))
            consumer.subscribe(['py-tls'])
            seen = {}
            deadline = time.time() + 60
            while len(seen) < count and time.time() < deadline:
                for msg in consumer.consume(100, 1.0):
                    if msg.error():
                        raise KafkaException(msg.error())
                    seen[msg.key()] = msg.value()
            consumer.close()
            assert len(seen) == count, len(seen)
            assert all(seen[b'k%d' % i] == b'v%d' % i for i in range(count))
            print('ok', len(seen))
            """;
        var (certificate, key) = _certificates.WriteClientFiles("CN=python-user");
        var result = await Tool.RunAsync(Tool.Python, ["-c", script, _levee.BootstrapServers, _certificates.CaFile, certificate, key, "300"]);
        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("ok 300", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnSslListener_WithoutAKeystore_StopsServeWithAMessage()
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => LeveeProcess.StartAsync(null, null, "--set", "listener.security.protocol.map=PLAINTEXT:SSL"));
        Assert.Contains("set ssl.keystore.location", refused.Message, StringComparison.Ordinal);
    }
}
