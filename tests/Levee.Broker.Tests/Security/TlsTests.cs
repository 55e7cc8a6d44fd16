using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Tests.Tls;
using Microsoft.Extensions.DependencyInjection;
using SecurityProtocol = Confluent.Kafka.SecurityProtocol;

namespace Levee.Broker.Tests.Security;

/// <summary>SSL listeners: real clients over TLS with certificates made by the test.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly TestCertificates _certificates = TestCertificates.Create();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task ConfluentClient_OverSsl_VerifyingTheBroker_ProducesAndConsumes()
    {
        await using var broker = await StartAsync();
        await ProduceAndConsumeAsync(broker.BootstrapServers, new ClientConfig { SecurityProtocol = SecurityProtocol.Ssl, SslCaLocation = _certificates.CaFile }, "tls-plain");
    }

    [Fact]
    public async Task ConfluentClient_WithACertificate_UnderClientAuthRequired_ProducesAndConsumes()
    {
        await using var broker = await StartAsync(o => o with { SslClientAuth = SslClientAuth.Required });
        var (certificate, key) = _certificates.WriteClientFiles("CN=alice,O=Acme");
        await ProduceAndConsumeAsync(
            broker.BootstrapServers,
            new ClientConfig { SecurityProtocol = SecurityProtocol.Ssl, SslCaLocation = _certificates.CaFile, SslCertificateLocation = certificate, SslKeyLocation = key },
            "tls-mutual");
    }

    [Fact]
    public async Task ARequestOfSeveralMegabytes_OverSsl_IsReadThroughTheRequestMemoryBudget()
    {
        await using var broker = await StartAsync(o => o with { SocketRequestMaxBytes = 8 * 1024 * 1024, QueuedMaxRequestBytes = 8 * 1024 * 1024 });
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers, SecurityProtocol = SecurityProtocol.Ssl, SslCaLocation = _certificates.CaFile }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "tls-large", NumPartitions = 1, ReplicationFactor = 1, Configs = new() { ["max.message.bytes"] = "8388608" } }]);
        }

        var value = new byte[3 * 1024 * 1024];
        using var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, SecurityProtocol = SecurityProtocol.Ssl, SslCaLocation = _certificates.CaFile, MessageMaxBytes = 8 * 1024 * 1024 }).Build();
        var delivered = await producer.ProduceAsync("tls-large", new Message<Null, byte[]> { Value = value }).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
        Assert.InRange(broker.Broker.RequestMemory.Peak, value.Length, broker.Broker.RequestMemory.Capacity);
    }

    [Fact]
    public async Task ClientCertificate_GivesThePrincipal_ByTheMappingRules()
    {
        await using var broker = await StartAsync(
            o => o with { SslClientAuth = SslClientAuth.Required, SslPrincipalMappingRules = "RULE:^CN=([^,]*),O=Acme$/$1/L,DEFAULT" },
            s => s.AddSingleton<IApiHandler, PrincipalHandler>());

        Assert.Equal("User:alice", await PrincipalAsync(broker, ClientCertificate("CN=Alice,O=Acme")));
        Assert.Equal("User:CN=bob,O=Other", await PrincipalAsync(broker, ClientCertificate("CN=bob,O=Other", "bob.pem")));
    }

    [Fact]
    public async Task ClientAuthRequested_WithoutACertificate_IsAnonymous_AndWithOneIsMapped()
    {
        await using var broker = await StartAsync(o => o with { SslClientAuth = SslClientAuth.Requested }, s => s.AddSingleton<IApiHandler, PrincipalHandler>());
        Assert.Equal("User:ANONYMOUS", await PrincipalAsync(broker, null));
        Assert.Equal("User:CN=carol", await PrincipalAsync(broker, ClientCertificate("CN=carol")));
    }

    [Fact]
    public async Task ClientAuthRequired_WithoutACertificate_IsRefused_AndOthersAreServed()
    {
        await using var broker = await StartAsync(o => o with { SslClientAuth = SslClientAuth.Required }, s => s.AddSingleton<IApiHandler, PrincipalHandler>());
        Assert.True(await IsRefusedAsync(broker, null));
        Assert.Equal("User:CN=dave", await PrincipalAsync(broker, ClientCertificate("CN=dave")));
    }

    [Fact]
    public async Task ClientCertificate_OfAnotherAuthority_IsRefused()
    {
        await using var broker = await StartAsync(o => o with { SslClientAuth = SslClientAuth.Required });
        using var stranger = TestCertificates.Create("Stranger CA");
        var (path, _) = stranger.WriteClientKeystore("CN=mallory");
        using var certificate = X509Certificate2.CreateFromPemFile(path);
        Assert.True(await IsRefusedAsync(broker, certificate));
    }

    [Fact]
    public async Task ASubjectNoRuleMatches_IsRefused()
    {
        await using var broker = await StartAsync(o => o with { SslClientAuth = SslClientAuth.Required, SslPrincipalMappingRules = "RULE:^CN=([^,]*),O=Acme$/$1/" });
        Assert.True(await IsRefusedAsync(broker, ClientCertificate("CN=erin,O=Elsewhere")));
    }

    [Fact]
    public async Task PlaintextClientAndGarbage_OnTheTlsPort_AreClosed_AndTlsClientsAreStillServed()
    {
        await using var broker = await StartAsync();
        using (var plaintext = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            await plaintext.SendAsync(ApiKey.ApiVersions, 3, (ref KafkaWriter w) => new ApiVersionsRequest { ClientSoftwareName = "plain", ClientSoftwareVersion = "1" }.Write(ref w, 3));
            Assert.True(await plaintext.IsClosedByPeerAsync(TimeSpan.FromSeconds(15)));
        }

        using (var garbage = await RawKafkaClient.ConnectAsync(broker.BootstrapServers))
        {
            // A TLS record header (handshake, TLS 1.2) announcing a ClientHello, followed by noise.
            await garbage.Stream.WriteAsync(new byte[] { 0x16, 0x03, 0x03, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03 }.Concat(new byte[51]).ToArray());
            Assert.True(await garbage.IsClosedByPeerAsync(TimeSpan.FromSeconds(15)));
        }

        await ProduceAndConsumeAsync(broker.BootstrapServers, new ClientConfig { SecurityProtocol = SecurityProtocol.Ssl, SslCaLocation = _certificates.CaFile }, "tls-after-garbage");
    }

    [Fact]
    public async Task AKeystoreReplacedOnDisk_IsServedToNewConnections_WithoutARestart()
    {
        var (path, first) = _certificates.WriteServerKeystore("rotating.pem");
        await using var broker = await StartAsync(o => o with { SslKeystoreLocation = path });
        Assert.Equal(first.Thumbprint, await ServedThumbprintAsync(broker));

        var (_, second) = _certificates.WriteServerKeystore("rotating.pem", "CN=levee-broker-rotated");
        Assert.NotEqual(first.Thumbprint, second.Thumbprint);
        Assert.Equal(second.Thumbprint, await ServedThumbprintAsync(broker));

        // A file caught half written keeps the last good certificate in service.
        await File.WriteAllTextAsync(path, "-----BEGIN PRIVATE KEY-----\nMIG");
        Assert.Equal(second.Thumbprint, await ServedThumbprintAsync(broker));
    }

    [Fact]
    public async Task AnEncryptedKey_IsReadWithSslKeyPassword()
    {
        var (path, certificate) = _certificates.WriteServerKeystore("encrypted.pem", password: "correct horse");
        await using var broker = await StartAsync(o => o with { SslKeystoreLocation = path, SslKeyPassword = new SecretText("correct horse") });
        Assert.Equal(certificate.Thumbprint, await ServedThumbprintAsync(broker));
    }

    [Fact]
    public async Task AnSslListener_WithoutAKeystore_OrWithAnUnreadableOne_DoesNotStart()
    {
        var missing = await Assert.ThrowsAsync<BrokerConfigurationException>(() => TestBroker.StartAsync(o => o with { Listeners = "SSL://127.0.0.1:0" }));
        Assert.Contains("ssl.keystore.location", missing.Message, StringComparison.Ordinal);

        var unreadable = await Assert.ThrowsAsync<BrokerConfigurationException>(() => StartAsync(o => o with { SslKeystoreLocation = Path.Combine(_certificates.Directory, "absent.pem") }));
        Assert.Contains("absent.pem", unreadable.Message, StringComparison.Ordinal);

        var encrypted = _certificates.WriteServerKeystore("locked.pem", password: "secret-one").Path;
        var wrongPassword = await Assert.ThrowsAsync<BrokerConfigurationException>(() => StartAsync(o => o with { SslKeystoreLocation = encrypted, SslKeyPassword = new SecretText("secret-two") }));
        Assert.DoesNotContain("secret-", wrongPassword.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACluster_WhoseInterBrokerListenerIsMutualTls_Replicates_AcksAllWithThreeInSync()
    {
        var keystore = _certificates.WriteServerKeystore().Path;
        await using var cluster = await TestCluster.StartAsync(3, o => o with
        {
            Listeners = "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0",
            ListenerSecurityProtocolMap = "PLAINTEXT:PLAINTEXT,BROKER:SSL",
            SslKeystoreLocation = keystore,
            SslTruststoreLocation = _certificates.CaFile,
            SslClientAuth = SslClientAuth.Required,
        });
        Assert.All(cluster.Brokers, b => Assert.Equal((short)Levee.Broker.Security.SecurityProtocol.Ssl, b!.Identity.Endpoints.Single(e => e.Name == "BROKER").SecurityProtocol));

        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            // Three in sync or nothing: an acknowledged write proves both followers fetched it over TLS.
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = "replicated-over-tls",
                NumPartitions = 3,
                ReplicationFactor = 3,
                Configs = new Dictionary<string, string> { ["min.insync.replicas"] = "3" },
            }]);
        }

        await ProduceAndConsumeAsync(cluster.BootstrapServers, new ClientConfig(), "replicated-over-tls");
    }

    [Fact]
    public async Task AQuorumOverMutualTls_ElectsAndCommits_AndTakesNoPeerWithoutATrustedCertificate()
    {
        var keystore = _certificates.WriteServerKeystore().Path;
        var voters = "";
        await using var cluster = await TestCluster.StartAsync(3, o =>
        {
            voters = o.QuorumVoters!;
            return o with
            {
                Listeners = "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0",
                ListenerSecurityProtocolMap = "PLAINTEXT:PLAINTEXT,BROKER:SSL",
                SslKeystoreLocation = keystore,
                SslTruststoreLocation = _certificates.CaFile,
                SslClientAuth = SslClientAuth.Required,
                QuorumSecurityProtocol = Levee.Broker.Security.SecurityProtocol.Ssl,
            };
        });

        // Every metadata change (the topic, its partitions, the ISR) is committed by the quorum over TLS.
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "quorum-over-tls", NumPartitions = 3, ReplicationFactor = 3 }]);
        }

        await ProduceAndConsumeAsync(cluster.BootstrapServers, new ClientConfig(), "quorum-over-tls");

        var port = int.Parse(voters.Split(',')[0].Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        using var stranger = TestCertificates.Create("Another CA");
        Assert.True(await QuorumTakesAsync(port, X509Certificate2.CreateFromPemFile(_certificates.WriteClientKeystore("CN=levee-broker-4", "peer.pem").Path)));
        Assert.False(await QuorumTakesAsync(port, null));
        Assert.False(await QuorumTakesAsync(port, X509Certificate2.CreateFromPemFile(stranger.WriteClientKeystore("CN=levee-broker-1").Path)));
    }

    /// <summary>
    /// Whether a voter's Raft port completes a TLS handshake with a client presenting <paramref name="certificate"/> and
    /// keeps the connection: a refused peer's handshake fails, or (TLS 1.3 checks the client's certificate after the
    /// client has finished) the connection is closed at the first read.
    /// </summary>
    private async Task<bool> QuorumTakesAsync(int port, X509Certificate2? certificate)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
        await using var tls = new SslStream(tcp.GetStream());
        var options = ClientTls(certificate);
        options.TargetHost = "127.0.0.1";
        try
        {
            await tls.AuthenticateAsClientAsync(options);
            using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var read = await tls.ReadAsync(new byte[1], quiet.Token);
            return read > 0;
        }
        catch (OperationCanceledException)
        {
            // Still open and waiting for a Raft request: taken.
            return true;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return false;
        }
    }

    private Task<TestBroker> StartAsync(Func<BrokerOptions, BrokerOptions>? configure = null, Action<IServiceCollection>? configureServices = null)
    {
        var keystore = _certificates.WriteServerKeystore().Path;
        return TestBroker.StartAsync(
            o => (configure ?? (x => x))(o with { Listeners = "SSL://127.0.0.1:0", SslKeystoreLocation = keystore, SslTruststoreLocation = _certificates.CaFile }),
            configureServices);
    }

    private X509Certificate2 ClientCertificate(string subject, string file = "client.pem") =>
        X509Certificate2.CreateFromPemFile(_certificates.WriteClientKeystore(subject, file).Path);

    private SslClientAuthenticationOptions ClientTls(X509Certificate2? certificate) => new()
    {
        TargetHost = "localhost",
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ClientCertificates = certificate is null ? null : [certificate],
        RemoteCertificateValidationCallback = (_, served, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_certificates.Authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return served is X509Certificate2 leaf && chain.Build(leaf);
        },
    };

    private async Task<string> ServedThumbprintAsync(TestBroker broker)
    {
        using var client = await RawKafkaClient.ConnectTlsAsync(broker.BootstrapServers, ClientTls(null));
        return ((X509Certificate2)client.Tls.RemoteCertificate!).Thumbprint;
    }

    /// <summary>The principal the broker gives a connection with <paramref name="certificate"/> (none: null).</summary>
    private async Task<string> PrincipalAsync(TestBroker broker, X509Certificate2? certificate)
    {
        using var client = await RawKafkaClient.ConnectTlsAsync(broker.BootstrapServers, ClientTls(certificate));
        var id = await client.SendAsync(ApiKey.DescribeLogDirs, 4, (ref KafkaWriter w) => new DescribeLogDirsRequest().Write(ref w, 4));
        var body = await client.ReceiveAsync(ApiKey.DescribeLogDirs, 4, id);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return DescribeLogDirsResponse.Read(ref reader, 4).Results.Single().LogDir;
    }

    /// <summary>
    /// Whether a client with <paramref name="certificate"/> is refused: in the handshake, or (TLS 1.3, where the server
    /// checks the client's certificate after the client has finished) by a closed connection instead of an answer.
    /// </summary>
    private async Task<bool> IsRefusedAsync(TestBroker broker, X509Certificate2? certificate)
    {
        try
        {
            using var client = await RawKafkaClient.ConnectTlsAsync(broker.BootstrapServers, ClientTls(certificate));
            var id = await client.SendAsync(ApiKey.ApiVersions, 3, (ref KafkaWriter w) => new ApiVersionsRequest { ClientSoftwareName = "t", ClientSoftwareVersion = "1" }.Write(ref w, 3));
            return await client.ReceiveAsync(ApiKey.ApiVersions, 3, id) is null;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return true;
        }
    }

    private static async Task ProduceAndConsumeAsync(string bootstrap, ClientConfig security, string topic)
    {
        const int count = 200;
        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig(new ClientConfig(security)) { BootstrapServers = bootstrap, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < count; i++)
            {
                producer.Produce(topic, new Message<string, string> { Key = "k" + i, Value = "v" + i });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig(new ClientConfig(security))
        {
            BootstrapServers = bootstrap,
            GroupId = topic + "-group",
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(topic);
        var seen = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (seen.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { } result)
            {
                Assert.Equal("v" + result.Message.Key[1..], result.Message.Value);
                seen.Add(result.Message.Value);
            }
        }

        consumer.Close();
        Assert.Equal(Enumerable.Range(0, count).Select(i => "v" + i).ToHashSet(), seen);
    }

    /// <summary>Answers DescribeLogDirs (in place of the broker's own) with the connection's principal as the log dir.</summary>
    [NoAuthorization]
    private sealed class PrincipalHandler : DescribeLogDirsTestHandler
    {
        protected override ValueTask<DescribeLogDirsResponse?> HandleAsync(RequestContext context, DescribeLogDirsRequest request) =>
            ValueTask.FromResult<DescribeLogDirsResponse?>(new DescribeLogDirsResponse
            {
                Results = [new DescribeLogDirsResponse.DescribeLogDirsResult { LogDir = context.Connection.Principal.ToString() }],
            });
    }
}
