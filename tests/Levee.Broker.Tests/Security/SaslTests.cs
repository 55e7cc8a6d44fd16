using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Tests.Tls;
using KafkaErrorCode = Levee.Protocol.ErrorCode;
using ScramMechanism = Confluent.Kafka.Admin.ScramMechanism;

namespace Levee.Broker.Tests.Security;

/// <summary>SASL on a SASL_PLAINTEXT listener: PLAIN and SCRAM against credentials kept in the metadata log.</summary>
public sealed class SaslTests : IAsyncLifetime
{
    private const string Password = "correct horse battery staple";
    private TestBroker _broker = null!;

    private string Plain => _broker.Broker.Identity.Endpoints.Single(e => e.Name == "PLAINTEXT") is var e ? $"{e.Host}:{e.Port}" : "";

    private string Sasl => _broker.Broker.Identity.Endpoints.Single(e => e.Name == "SASL_PLAINTEXT") is var e ? $"{e.Host}:{e.Port}" : "";

    public async Task InitializeAsync()
    {
        _broker = await TestBroker.StartAsync(o => o with { Listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0", ConnectionFailedAuthenticationDelayMs = 10 });
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Plain }).Build();
        await admin.AlterUserScramCredentialsAsync(
        [
            new UserScramCredentialUpsertion { User = "alice", ScramCredentialInfo = new ScramCredentialInfo { Mechanism = ScramMechanism.ScramSha256, Iterations = 4096 }, Password = Encoding.UTF8.GetBytes(Password) },
            new UserScramCredentialUpsertion { User = "bob", ScramCredentialInfo = new ScramCredentialInfo { Mechanism = ScramMechanism.ScramSha512, Iterations = 8192 }, Password = Encoding.UTF8.GetBytes(Password) },
        ]);
    }

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Theory]
    [InlineData(SaslMechanism.ScramSha256, "alice")]
    [InlineData(SaslMechanism.ScramSha512, "bob")]
    [InlineData(SaslMechanism.Plain, "bob")]
    [InlineData(SaslMechanism.Plain, "alice")]
    public async Task ConfluentKafka_OverSaslPlaintext_ProducesAndConsumes(SaslMechanism mechanism, string user)
    {
        var topic = $"sasl-{mechanism}-{user}".ToLowerInvariant();
        var config = new ClientConfig { BootstrapServers = Sasl, SecurityProtocol = SecurityProtocol.SaslPlaintext, SaslMechanism = mechanism, SaslUsername = user, SaslPassword = Password };
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig(config) { Acks = Acks.All }).Build())
        {
            var delivered = await producer.ProduceAsync(topic, new Message<Null, string> { Value = "authenticated" });
            Assert.Equal(0, delivered.Offset.Value);
        }

        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig(config) { GroupId = topic, AutoOffsetReset = AutoOffsetReset.Earliest }).Build();
        consumer.Subscribe(topic);
        var record = consumer.Consume(TimeSpan.FromSeconds(30));
        Assert.Equal("authenticated", record?.Message.Value);
    }

    /// <remarks>
    /// With ssl.client.auth=required, as a broker with SSL listeners for certificate holders has it: Kafka ignores it on a
    /// SASL_SSL listener (KIP-684), so a SASL client without a certificate is served.
    /// </remarks>
    [Fact]
    public async Task ConfluentKafka_OverSaslSsl_AuthenticatesWithScramInsideTls()
    {
        using var certificates = TestCertificates.Create();
        var (keystore, _) = certificates.WriteServerKeystore();
        await using var broker = await TestBroker.StartAsync(o => o with
        {
            Listeners = "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
            SslKeystoreLocation = keystore,
            SslTruststoreLocation = certificates.CaFile,
            SslClientAuth = SslClientAuth.Required,
        });
        var plain = broker.Broker.Identity.Endpoints.Single(e => e.Name == "PLAINTEXT");
        var secure = broker.Broker.Identity.Endpoints.Single(e => e.Name == "SASL_SSL");
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = $"{plain.Host}:{plain.Port}" }).Build())
        {
            await admin.AlterUserScramCredentialsAsync([new UserScramCredentialUpsertion { User = "carol", ScramCredentialInfo = new ScramCredentialInfo { Mechanism = ScramMechanism.ScramSha512, Iterations = 4096 }, Password = Encoding.UTF8.GetBytes(Password) }]);
        }

        var config = new ProducerConfig
        {
            BootstrapServers = $"{secure.Host}:{secure.Port}",
            SecurityProtocol = SecurityProtocol.SaslSsl,
            SslCaLocation = certificates.CaFile,
            SaslMechanism = SaslMechanism.ScramSha512,
            SaslUsername = "carol",
            SaslPassword = Password,
            Acks = Acks.All,
        };
        using var producer = new ProducerBuilder<Null, string>(config).Build();
        var delivered = await producer.ProduceAsync("over-sasl-ssl", new Message<Null, string> { Value = "inside TLS" });

        Assert.Equal(0, delivered.Offset.Value);
    }

    [Fact]
    public async Task WrongPassword_IsRefusedWithSaslAuthenticationFailed()
    {
        var config = new ProducerConfig { BootstrapServers = Sasl, SecurityProtocol = SecurityProtocol.SaslPlaintext, SaslMechanism = SaslMechanism.ScramSha512, SaslUsername = "bob", SaslPassword = "wrong", MessageTimeoutMs = 5000 };
        var errors = new List<Error>();
        using var producer = new ProducerBuilder<Null, string>(config).SetErrorHandler((_, e) => errors.Add(e)).Build();

        await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.ProduceAsync("never", new Message<Null, string> { Value = "x" }));

        Assert.Contains(errors, e => e.Code == Confluent.Kafka.ErrorCode.SaslAuthenticationFailed || e.Reason.Contains("Authentication failed", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("SCRAM-SHA-512")]
    public async Task WrongPasswordAndUnknownUser_AreAnsweredAlike_AndTheConnectionIsClosed(string mechanism)
    {
        var wrong = await AuthenticateRawAsync(mechanism, "bob", "wrong");
        var unknown = await AuthenticateRawAsync(mechanism, "nobody", "wrong");

        Assert.Equal(KafkaErrorCode.SaslAuthenticationFailed, wrong.Error);
        Assert.Equal(wrong, unknown);
        Assert.True(wrong.Closed);

        // The broker goes on serving everyone else.
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Plain }).Build();
        Assert.NotEmpty(admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers);
    }

    [Theory]
    [InlineData(ApiKey.Metadata, 12)]
    [InlineData(ApiKey.Produce, 9)]
    public async Task ARequestBeforeAuthentication_ClosesTheConnection(ApiKey key, short version)
    {
        using var client = await RawKafkaClient.ConnectAsync(Sasl);
        await client.SendAsync(key, version, (ref KafkaWriter w) =>
        {
            if (key == ApiKey.Metadata)
            {
                new MetadataRequest { Topics = null }.Write(ref w, version);
            }
            else
            {
                new ProduceRequest { Acks = 1, TimeoutMs = 1000 }.Write(ref w, version);
            }
        });

        Assert.True(await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task MalformedScramMessages_AreRefused_AndTheBrokerKeepsServing()
    {
        foreach (var garbage in new[] { new byte[] { 0xff, 0xfe, 0x00 }, "n,,"u8.ToArray(), new byte[70_000] })
        {
            using var client = await RawKafkaClient.ConnectAsync(Sasl);
            Assert.Equal(KafkaErrorCode.None, await HandshakeAsync(client, "SCRAM-SHA-256"));
            var (error, _) = await SaslAuthenticateAsync(client, garbage);
            Assert.Equal(KafkaErrorCode.SaslAuthenticationFailed, error);
            Assert.True(await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
        }

        await ConfluentKafka_OverSaslPlaintext_ProducesAndConsumes(SaslMechanism.ScramSha256, "alice");
    }

    [Fact]
    public async Task AnUnenabledMechanism_IsUnsupportedSaslMechanism_ListingTheEnabledOnes()
    {
        using var client = await RawKafkaClient.ConnectAsync(Sasl);
        var correlation = await client.SendAsync(ApiKey.SaslHandshake, 1, (ref KafkaWriter w) => new SaslHandshakeRequest { Mechanism = "GSSAPI" }.Write(ref w, 1));
        var response = await HandshakeResponseAsync(client, correlation);

        Assert.Equal((short)KafkaErrorCode.UnsupportedSaslMechanism, response.ErrorCode);
        Assert.Equal(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], response.Mechanisms);
    }

    [Fact]
    public async Task DescribeAndDeleteCredentials_ShowMechanismsAndIterations_AndADeletedUserCannotAuthenticate()
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Plain }).Build();

        var described = await admin.DescribeUserScramCredentialsAsync(["alice", "bob"]);

        var bob = described.UserScramCredentialsDescriptions.Single(d => d.User == "bob");
        Assert.Equal(8192, Assert.Single(bob.ScramCredentialInfos).Iterations);
        Assert.Equal(ScramMechanism.ScramSha512, bob.ScramCredentialInfos[0].Mechanism);

        await admin.AlterUserScramCredentialsAsync([new UserScramCredentialDeletion { User = "bob", Mechanism = ScramMechanism.ScramSha512 }]);

        var gone = await AuthenticateRawAsync("PLAIN", "bob", Password);
        Assert.Equal(KafkaErrorCode.SaslAuthenticationFailed, gone.Error);
        var missing = await Assert.ThrowsAsync<DescribeUserScramCredentialsException>(() => admin.DescribeUserScramCredentialsAsync(["bob"]));
        Assert.Equal(Confluent.Kafka.ErrorCode.ResourceNotFound, missing.Results.UserScramCredentialsDescriptions.Single().Error.Code);
    }

    private static async Task<KafkaErrorCode> HandshakeAsync(RawKafkaClient client, string mechanism)
    {
        var correlation = await client.SendAsync(ApiKey.SaslHandshake, 1, (ref KafkaWriter w) => new SaslHandshakeRequest { Mechanism = mechanism }.Write(ref w, 1));
        return (KafkaErrorCode)(await HandshakeResponseAsync(client, correlation)).ErrorCode;
    }

    private static async Task<SaslHandshakeResponse> HandshakeResponseAsync(RawKafkaClient client, int correlation)
    {
        var body = await client.ReceiveAsync(ApiKey.SaslHandshake, 1, correlation);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return SaslHandshakeResponse.Read(ref reader, 1);
    }

    private static async Task<SaslAuthenticateResponse> AuthenticateResponseAsync(RawKafkaClient client, int correlation)
    {
        var body = await client.ReceiveAsync(ApiKey.SaslAuthenticate, 2, correlation);
        Assert.NotNull(body);
        var reader = new KafkaReader(body);
        return SaslAuthenticateResponse.Read(ref reader, 2);
    }

    private static async Task<(KafkaErrorCode Error, string? Message)> SaslAuthenticateAsync(RawKafkaClient client, byte[] token)
    {
        var correlation = await client.SendAsync(ApiKey.SaslAuthenticate, 2, (ref KafkaWriter w) => new SaslAuthenticateRequest { AuthBytes = token }.Write(ref w, 2));
        var response = await AuthenticateResponseAsync(client, correlation);
        return ((KafkaErrorCode)response.ErrorCode, response.ErrorMessage);
    }

    // PLAIN in one token; SCRAM up to the proof, with a client that knows the password it is given.
    private async Task<(KafkaErrorCode Error, string? Message, bool Closed)> AuthenticateRawAsync(string mechanism, string user, string password)
    {
        using var client = await RawKafkaClient.ConnectAsync(Sasl);
        Assert.Equal(KafkaErrorCode.None, await HandshakeAsync(client, mechanism));
        (KafkaErrorCode Error, string? Message) outcome;
        if (mechanism == "PLAIN")
        {
            outcome = await SaslAuthenticateAsync(client, Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
        }
        else
        {
            var first = await SaslAuthenticateRawFirstAsync(client, user);
            var fields = first.Split(',').ToDictionary(f => f[0], f => f[2..]);
            var proof = Convert.ToBase64String(new byte[64]);
            outcome = await SaslAuthenticateAsync(client, Encoding.UTF8.GetBytes($"c=biws,r={fields['r']},p={proof}"));
        }

        return (outcome.Error, outcome.Message, await client.IsClosedByPeerAsync(TimeSpan.FromSeconds(10)));
    }

    private static async Task<string> SaslAuthenticateRawFirstAsync(RawKafkaClient client, string user)
    {
        var correlation = await client.SendAsync(ApiKey.SaslAuthenticate, 2, (ref KafkaWriter w) => new SaslAuthenticateRequest { AuthBytes = Encoding.UTF8.GetBytes($"n,,n={user},r=fixednonce") }.Write(ref w, 2));
        var response = await AuthenticateResponseAsync(client, correlation);
        Assert.Equal(0, response.ErrorCode);
        return Encoding.UTF8.GetString(response.AuthBytes);
    }
}
