using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Confluent.Kafka;
using Levee.Compat.Infrastructure;
using Levee.Tests.Tls;

namespace Levee.Compat;

/// <summary>How a client of the matrix connects.</summary>
public enum MatrixSecurity
{
    /// <summary>SASL_SSL with SCRAM-SHA-512, the broker verified with the test's CA.</summary>
    SaslSslScramSha512,

    /// <summary>SASL_SSL with PLAIN.</summary>
    SaslSslPlain,

    /// <summary>SSL with a client certificate (ssl.client.auth=required).</summary>
    SslClientCertificate,
}

/// <summary>The clients of the matrix.</summary>
public enum MatrixClient
{
    /// <summary>kcat (Debian's, on librdkafka), run as a program.</summary>
    Kcat,

    /// <summary>kafka-python (Debian's, run by /usr/bin/python3): SaslHandshake v0 and bare tokens.</summary>
    KafkaPython,

    /// <summary>confluent-kafka-python (Debian's, run by /usr/bin/python3, on librdkafka).</summary>
    ConfluentKafkaPython,

    /// <summary>kafkajs (npm, js/package.json), run by node: js/produce-consume.js.</summary>
    KafkaJs,

    /// <summary>Confluent.Kafka (NuGet), in the test's own process.</summary>
    ConfluentKafka,
}

/// <summary>
/// One `levee serve` for <see cref="ClientMatrixTests"/>: a SASL_SSL listener (user alice, made with `levee users set
/// --data-dir` before the first start) and an SSL listener with ssl.client.auth=required, whose certificate subjects
/// map to principals by a rule; ACLs on, with alice and the client certificate's principal the only super users, so a
/// client is served only under the principal it should have. Each way of connecting is a properties file of client
/// settings with librdkafka's names (the password is never on a command line).
/// </summary>
public sealed class ClientMatrixBroker : IAsyncLifetime
{
    /// <summary>The principal the broker maps the client certificate's subject to.</summary>
    private const string CertificatePrincipal = "User:matrix-client";

    private readonly string _password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));

    public TestCertificates Certificates { get; } = TestCertificates.Create();

    public LeveeProcess Levee { get; private set; } = null!;

    public string SaslSslBootstrap => $"127.0.0.1:{Levee.SaslPort}";

    public string SslBootstrap => Levee.BootstrapServers;

    /// <summary>The client settings of each way of connecting.</summary>
    public IReadOnlyDictionary<MatrixSecurity, string> Properties { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var passwordFile = Path.Combine(Certificates.Directory, "password");
        await File.WriteAllTextAsync(passwordFile, _password + "\n");
        var dataDir = Path.Combine(Certificates.Directory, "data");
        var set = await LeveeCli.RunAsync("users", "set", "alice", "--mechanism", "SCRAM-SHA-512", "--password-file", passwordFile, "--data-dir", dataDir);
        Assert.True(set.ExitCode == 0, set.StdErr + set.StdOut);

        // The listener named PLAINTEXT speaks SSL, the one named SASL_PLAINTEXT SASL_SSL.
        Levee = await LeveeProcess.StartWithSaslListenerInAsync(
            dataDir,
            "--set", "listener.security.protocol.map=PLAINTEXT:SSL,SASL_PLAINTEXT:SASL_SSL",
            "--set", "ssl.keystore.location=" + Certificates.WriteServerKeystore().Path,
            "--set", "ssl.truststore.location=" + Certificates.CaFile,
            "--set", "ssl.client.auth=required",
            "--set", "ssl.principal.mapping.rules=RULE:^CN=([^,]*),O=Levee Matrix$/$1/,DEFAULT",
            "--set", "authorizer.enabled=true",
            "--set", "super.users=User:alice;" + CertificatePrincipal);

        var (certificate, key) = Certificates.WriteClientFiles("CN=matrix-client,O=Levee Matrix");
        Properties = new Dictionary<MatrixSecurity, string>
        {
            [MatrixSecurity.SaslSslScramSha512] = await WritePropertiesAsync("scram.properties", Sasl("SCRAM-SHA-512")),
            [MatrixSecurity.SaslSslPlain] = await WritePropertiesAsync("plain.properties", Sasl("PLAIN")),
            [MatrixSecurity.SslClientCertificate] = await WritePropertiesAsync("ssl.properties", SslWithCertificate(certificate, key)),
        };
    }

    public async Task DisposeAsync()
    {
        await Levee.DisposeAsync();
        Certificates.Dispose();
    }

    /// <summary>SASL_SSL settings for alice with <paramref name="mechanism"/>.</summary>
    private Dictionary<string, string> Sasl(string mechanism) => new()
    {
        ["bootstrap.servers"] = SaslSslBootstrap,
        ["security.protocol"] = "SASL_SSL",
        ["sasl.mechanism"] = mechanism,
        ["sasl.username"] = "alice",
        ["sasl.password"] = _password,
        ["ssl.ca.location"] = Certificates.CaFile,
    };

    /// <summary>SSL settings presenting the certificate and key of these files.</summary>
    public Dictionary<string, string> SslWithCertificate(string certificate, string key) => new()
    {
        ["bootstrap.servers"] = SslBootstrap,
        ["security.protocol"] = "SSL",
        ["ssl.ca.location"] = Certificates.CaFile,
        ["ssl.certificate.location"] = certificate,
        ["ssl.key.location"] = key,
    };

    /// <summary>Writes <paramref name="settings"/> as a properties file in the test's directory; returns its path.</summary>
    public async Task<string> WritePropertiesAsync(string name, Dictionary<string, string> settings)
    {
        var path = Path.Combine(Certificates.Directory, name);
        await File.WriteAllLinesAsync(path, settings.Select(s => $"{s.Key}={s.Value}"));
        return path;
    }
}

/// <summary>
/// Issue 10's client matrix: kcat, kafka-python (SaslHandshake v0, bare tokens), confluent-kafka-python, kafkajs and
/// Confluent.Kafka each produce and consume over SASL_SSL with SCRAM-SHA-512 and with PLAIN, and over SSL with a client
/// certificate, against one real `levee serve`; what each read back is checked record by record. A plaintext client
/// and TLS garbage on the TLS ports are closed with a log line while others are served.
/// </summary>
public sealed class ClientMatrixTests(ClientMatrixBroker fixture) : IClassFixture<ClientMatrixBroker>
{
    private const int Records = 10;

    private const string KafkaPythonScript = """
        import sys
        from kafka import KafkaProducer, KafkaConsumer, TopicPartition
        properties, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
        settings = dict(l.split('=', 1) for l in open(properties).read().splitlines() if '=' in l)
        names = {'bootstrap.servers': 'bootstrap_servers', 'security.protocol': 'security_protocol',
                 'sasl.mechanism': 'sasl_mechanism', 'sasl.username': 'sasl_plain_username', 'sasl.password': 'sasl_plain_password',
                 'ssl.ca.location': 'ssl_cafile', 'ssl.certificate.location': 'ssl_certfile', 'ssl.key.location': 'ssl_keyfile'}
        config = {names[k]: v for k, v in settings.items()}
        producer = KafkaProducer(acks='all', **config)
        futures = [producer.send(topic, key=b'k%d' % i, value=b'v%d' % i) for i in range(count)]
        producer.flush()
        assert [f.get(timeout=10).offset for f in futures] == list(range(count))
        producer.close()
        consumer = KafkaConsumer(enable_auto_commit=False, consumer_timeout_ms=30000, **config)
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        for m in consumer:
            print('%s=%s' % (m.key.decode(), m.value.decode()))
            if m.offset == count - 1:
                break
        consumer.close()
        """;

    private const string ConfluentKafkaPythonScript = """
        import sys
        from confluent_kafka import Producer, Consumer, KafkaException
        properties, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
        settings = dict(l.split('=', 1) for l in open(properties).read().splitlines() if '=' in l)
        def on_delivery(err, msg):
            if err is not None:
                raise KafkaException(err)
        producer = Producer(dict(settings, acks='all'))
        for i in range(count):
            producer.produce(topic, key=b'k%d' % i, value=b'v%d' % i, on_delivery=on_delivery)
        assert producer.flush(30) == 0
        consumer = Consumer(dict(settings, **{'group.id': topic, 'auto.offset.reset': 'earliest'}))
        consumer.subscribe([topic])
        for _ in range(count):
            m = consumer.poll(30)
            assert m is not None, 'timed out'
            if m.error():
                raise KafkaException(m.error())
            print('%s=%s' % (m.key().decode(), m.value().decode()))
        consumer.close()
        """;

    private static readonly string Count = Records.ToString(CultureInfo.InvariantCulture);
    private static readonly string[] Expected = [.. Enumerable.Range(0, Records).Select(i => $"k{i}=v{i}")];

    public static TheoryData<MatrixClient, MatrixSecurity> Matrix()
    {
        var data = new TheoryData<MatrixClient, MatrixSecurity>();
        foreach (var client in Enum.GetValues<MatrixClient>())
        {
            foreach (var security in Enum.GetValues<MatrixSecurity>())
            {
                data.Add(client, security);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task ProducesAndConsumes(MatrixClient client, MatrixSecurity security)
    {
        var topic = $"{client}-{security}".ToLowerInvariant();
        var properties = fixture.Properties[security];

        var consumed = client switch
        {
            MatrixClient.Kcat => await KcatAsync(properties, topic),
            MatrixClient.KafkaPython => await RunAsync(Tool.Python, ["-c", KafkaPythonScript, properties, topic, Count]),
            MatrixClient.ConfluentKafkaPython => await RunAsync(Tool.Python, ["-c", ConfluentKafkaPythonScript, properties, topic, Count]),
            MatrixClient.KafkaJs => await RunAsync("node", [Path.Combine(GroupsCli.JsDirectory(), "produce-consume.js"), properties, topic, Count]),
            MatrixClient.ConfluentKafka => await ConfluentKafkaAsync(security, topic),
            _ => throw new ArgumentOutOfRangeException(nameof(client)),
        };

        Assert.Equal(Expected, consumed);
    }

    [Fact]
    public async Task TheCli_WithAClientCertificateInItsCommandConfig_CreatesAndDescribesOverSsl()
    {
        string[] ssl = ["--bootstrap", fixture.SslBootstrap, "--command-config", fixture.Properties[MatrixSecurity.SslClientCertificate]];

        // topics create goes through Confluent.Kafka, topics describe through Levee's own client: both present the certificate.
        var created = await Tool.RunAsync("dotnet", [TopicsCliTests.LeveeDll, "topics", "create", "cli-over-ssl", "--partitions", "2", .. ssl]);
        Assert.True(created.ExitCode == 0, created.StdErr + created.StdOut);
        var described = await Tool.RunAsync("dotnet", [TopicsCliTests.LeveeDll, "topics", "describe", "cli-over-ssl", "--json", .. ssl]);
        Assert.True(described.ExitCode == 0, described.StdErr + described.StdOut);
        Assert.Equal(2, System.Text.Json.JsonDocument.Parse(described.StdOut).RootElement.GetProperty("partitions").GetArrayLength());
    }

    [Fact]
    public async Task AClientCertificateOfAnotherSubject_IsServedAsItsOwnPrincipal_AndDenied()
    {
        var (certificate, key) = fixture.Certificates.WriteClientFiles("CN=stranger,O=Levee Matrix", "stranger");
        var properties = await fixture.WritePropertiesAsync("stranger.properties", fixture.SslWithCertificate(certificate, key));

        var produced = await Tool.RunAsync("kcat", ["-F", properties, "-P", "-t", "stranger-topic"], stdin: "refused\n");

        Assert.NotEqual(0, produced.ExitCode);
        Assert.Contains("Topic authorization failed", produced.StdErr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task APlaintextClient_OnTheSaslSslPort_IsClosedWithALogLine_AndOthersAreStillServed()
    {
        static bool Failed(string line) => line.Contains("on TLS listener SASL_PLAINTEXT: the TLS handshake failed", StringComparison.Ordinal);
        var before = fixture.Levee.CountLines(Failed);

        var plaintext = await Tool.RunAsync("kcat", ["-b", fixture.SaslSslBootstrap, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=alice", "-X", "sasl.password=not-sent", "-L", "-m", "3"]);

        Assert.NotEqual(0, plaintext.ExitCode);
        await fixture.Levee.WaitForLinesAsync("the plaintext client's handshake failure", Failed, before + 1, TimeSpan.FromSeconds(15));
        await AssertServedAsync(MatrixSecurity.SaslSslScramSha512);
    }

    [Theory]
    [InlineData(MatrixSecurity.SaslSslPlain)]
    [InlineData(MatrixSecurity.SslClientCertificate)]
    public async Task TlsGarbage_IsClosedWithALogLine_AndOthersAreStillServed(MatrixSecurity listener)
    {
        var bootstrap = listener == MatrixSecurity.SslClientCertificate ? fixture.SslBootstrap : fixture.SaslSslBootstrap;
        var colon = bootstrap.LastIndexOf(':');
        IPEndPoint local;
        using (var socket = new TcpClient(AddressFamily.InterNetwork))
        {
            await socket.ConnectAsync(IPAddress.Loopback, int.Parse(bootstrap[(colon + 1)..], CultureInfo.InvariantCulture));
            local = (IPEndPoint)socket.Client.LocalEndPoint!;
            var stream = socket.GetStream();

            // A whole TLS record (handshake, TLS 1.2, 64 bytes) holding a ClientHello of noise.
            await stream.WriteAsync(new byte[] { 0x16, 0x03, 0x03, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0xde, 0xad, 0xbe, 0xef }.Concat(new byte[56]).ToArray());

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await ReadUntilClosedAsync(stream, timeout.Token);
        }

        await fixture.Levee.WaitForLinesAsync(
            "the garbage's handshake failure",
            l => l.Contains($"Closing connection from {local} on TLS listener", StringComparison.Ordinal) && l.Contains("the TLS handshake failed", StringComparison.Ordinal),
            1,
            TimeSpan.FromSeconds(15));
        await AssertServedAsync(MatrixSecurity.SslClientCertificate);
        await AssertServedAsync(MatrixSecurity.SaslSslPlain);
    }

    /// <summary>Reads (a TLS alert, perhaps) until the broker closes the connection; throws if it does not in time.</summary>
    private static async Task ReadUntilClosedAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, cancellationToken) > 0)
            {
            }
        }
        catch (IOException)
        {
            // Reset by the peer: closed too.
        }
    }

    private async Task AssertServedAsync(MatrixSecurity security)
    {
        var listed = await Tool.RunAsync("kcat", ["-F", fixture.Properties[security], "-L"]);
        Assert.True(listed.ExitCode == 0, listed.StdErr);
        Assert.False(fixture.Levee.HasExited);
    }

    private static async Task<string[]> KcatAsync(string properties, string topic)
    {
        var produced = await Tool.RunAsync("kcat", ["-F", properties, "-P", "-t", topic, "-K:"], stdin: string.Concat(Expected.Select(r => r.Replace('=', ':') + "\n")));
        Assert.True(produced.ExitCode == 0, produced.StdErr);
        return await RunAsync("kcat", ["-F", properties, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k=%s\n"]);
    }

    /// <summary>Runs a client program; asserts it succeeded and returns the lines it printed.</summary>
    private static async Task<string[]> RunAsync(string file, string[] args)
    {
        var result = await Tool.RunAsync(file, args, timeout: TimeSpan.FromSeconds(90));
        Assert.True(result.ExitCode == 0, $"{Path.GetFileName(file)} failed ({result.ExitCode}):\n{result.StdErr}\n{result.StdOut}");
        return result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private async Task<string[]> ConfluentKafkaAsync(MatrixSecurity security, string topic)
    {
        var settings = File.ReadAllLines(fixture.Properties[security]).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig(settings) { Acks = Acks.All }).Build())
        {
            for (var i = 0; i < Records; i++)
            {
                var delivered = await producer.ProduceAsync(topic, new Message<string, string> { Key = $"k{i}", Value = $"v{i}" });
                Assert.Equal(i, delivered.Offset.Value);
            }
        }

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig(settings) { GroupId = topic, AutoOffsetReset = AutoOffsetReset.Earliest }).Build();
        consumer.Subscribe(topic);
        var consumed = new List<string>();
        while (consumed.Count < Records)
        {
            var record = consumer.Consume(TimeSpan.FromSeconds(30));
            Assert.NotNull(record);
            consumed.Add($"{record.Message.Key}={record.Message.Value}");
        }

        consumer.Close();
        return [.. consumed];
    }
}
