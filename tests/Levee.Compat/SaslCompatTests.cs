using System.Security.Cryptography;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// A `levee serve` whose only listener requires SASL (PLAINTEXT mapped to SASL_PLAINTEXT), whose user was created
/// before its first start with `levee users set --data-dir`; kcat, kafka-python (SaslHandshake v0, bare tokens),
/// confluent-kafka-python and kafkajs each authenticate with SCRAM-SHA-512 and PLAIN, produce and consume; a wrong
/// password is refused; `levee users list` works online with --command-config.
/// </summary>
public sealed class SaslCompatTests : IAsyncLifetime
{
    private readonly string _password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-sasl-" + Guid.NewGuid().ToString("N"));
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        var passwordFile = Path.Combine(_dir, "password");
        await File.WriteAllTextAsync(passwordFile, _password + "\n");
        var dataDir = Path.Combine(_dir, "data");
        foreach (var mechanism in new[] { "SCRAM-SHA-512", "SCRAM-SHA-256" })
        {
            var set = await Levee("users", "set", "alice", "--mechanism", mechanism, "--password-file", passwordFile, "--data-dir", dataDir);
            Assert.True(set.ExitCode == 0, set.StdErr + set.StdOut);
        }

        Assert.DoesNotContain(_password, await File.ReadAllTextAsync(Path.Combine(dataDir, "scram-credentials.bootstrap")), StringComparison.Ordinal);
        _levee = await LeveeProcess.StartAsync(dataDir, null, "--set", "listener.security.protocol.map=PLAINTEXT:SASL_PLAINTEXT");
    }

    public async Task DisposeAsync()
    {
        await _levee.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("SCRAM-SHA-512")]
    [InlineData("PLAIN")]
    public async Task Kcat_AuthenticatesProducesAndConsumes(string mechanism)
    {
        var topic = "kcat-" + mechanism.ToLowerInvariant();
        string[] sasl = ["-b", _levee.BootstrapServers, "-X", "security.protocol=SASL_PLAINTEXT", "-X", $"sasl.mechanisms={mechanism}", "-X", "sasl.username=alice", "-X", $"sasl.password={_password}"];
        var produced = await Tool.RunAsync("kcat", [.. sasl, "-P", "-t", topic, "-K:"], stdin: "k1:one\nk2:two\n");
        Assert.True(produced.ExitCode == 0, produced.StdErr);

        var consumed = await Tool.RunAsync("kcat", [.. sasl, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k=%s\n"]);

        Assert.True(consumed.ExitCode == 0, consumed.StdErr);
        Assert.Equal(["k1=one", "k2=two"], consumed.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Kcat_WithAWrongPassword_IsRefused()
    {
        var result = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice", "-X", "sasl.password=wrong", "-L", "-m", "10"]);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Authentication failed", result.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SCRAM-SHA-512")]
    [InlineData("PLAIN")]
    public async Task KafkaPython_AuthenticatesWithBareTokens_ProducesAndConsumes(string mechanism)
    {
        const string script = """
            import sys
            from kafka import KafkaProducer, KafkaConsumer, TopicPartition
            bootstrap, mechanism, password, topic = sys.argv[1:5]
            sasl = dict(security_protocol='SASL_PLAINTEXT', sasl_mechanism=mechanism, sasl_plain_username='alice', sasl_plain_password=password)
            producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', **sasl)
            futures = [producer.send(topic, value=b'v%d' % i) for i in range(50)]
            producer.flush()
            assert [f.get(timeout=10).offset for f in futures] == list(range(50))
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10000, **sasl)
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            seen = [m.value for m in consumer]
            assert seen == [b'v%d' % i for i in range(50)], seen[:5]
            print('ok', len(seen))
            """;
        var result = await Tool.RunAsync(Tool.Python, ["-c", script, _levee.BootstrapServers, mechanism, _password, "py-" + mechanism.ToLowerInvariant()]);

        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("ok 50", result.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("PLAIN")]
    public async Task ConfluentKafkaPython_AuthenticatesProducesAndConsumes(string mechanism)
    {
        const string script = """
            import sys
            from confluent_kafka import Producer, Consumer
            bootstrap, mechanism, password, topic = sys.argv[1:5]
            sasl = {'bootstrap.servers': bootstrap, 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': mechanism, 'sasl.username': 'alice', 'sasl.password': password}
            producer = Producer(dict(sasl, acks='all'))
            for i in range(20):
                producer.produce(topic, value=b'v%d' % i)
            assert producer.flush(30) == 0
            consumer = Consumer(dict(sasl, **{'group.id': topic, 'auto.offset.reset': 'earliest'}))
            consumer.subscribe([topic])
            seen = []
            while len(seen) < 20:
                m = consumer.poll(30)
                assert m is not None, 'timed out after %d' % len(seen)
                assert m.error() is None, m.error()
                seen.append(m.value())
            consumer.close()
            assert seen == [b'v%d' % i for i in range(20)], seen[:5]
            print('ok', len(seen))
            """;
        var result = await Tool.RunAsync(Tool.Python, ["-c", script, _levee.BootstrapServers, mechanism, _password, "cpy-" + mechanism.ToLowerInvariant()]);

        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("ok 20", result.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("scram-sha-512")]
    [InlineData("plain")]
    public async Task KafkaJs_AuthenticatesAndProduces(string mechanism)
    {
        var produce = Path.Combine(GroupsCli.JsDirectory(), "produce.js");
        var result = await Tool.RunAsync("node", [produce, _levee.BootstrapServers, "js-" + mechanism, "2", "200", mechanism, "alice", _password], timeout: TimeSpan.FromSeconds(120));

        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("produced 200", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UsersList_WithCommandConfig_ShowsTheBootstrappedUser()
    {
        var properties = Path.Combine(_dir, "client.properties");
        await File.WriteAllTextAsync(properties, $"# levee users list\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=alice\nsasl.password={_password}\n");

        var listed = await Levee("users", "list", "--bootstrap", _levee.BootstrapServers, "--command-config", properties);

        Assert.True(listed.ExitCode == 0, listed.StdErr + listed.StdOut);
        Assert.Contains("SCRAM-SHA-512", listed.StdOut, StringComparison.Ordinal);
        Assert.Contains("SCRAM-SHA-256", listed.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain(_password, listed.StdOut + listed.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TopicsCreateAndGroupsList_WithCommandConfig_WorkOnASaslOnlyBroker()
    {
        var properties = Path.Combine(_dir, "cli.properties");
        await File.WriteAllTextAsync(properties, $"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=alice\nsasl.password={_password}\n");

        var created = await Levee("topics", "create", "cli-sasl", "--partitions", "2", "--bootstrap", _levee.BootstrapServers, "--command-config", properties);
        var groups = await Levee("groups", "list", "--bootstrap", _levee.BootstrapServers, "--command-config", properties);
        var refused = await Levee("groups", "list", "--bootstrap", _levee.BootstrapServers, "--timeout-s", "5");

        Assert.True(created.ExitCode == 0, created.StdErr + created.StdOut);
        Assert.True(groups.ExitCode == 0, groups.StdErr + groups.StdOut);
        Assert.NotEqual(0, refused.ExitCode);
    }

    private static Task<Tool.Result> Levee(params string[] args) =>
        Tool.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "levee.dll"), .. args]);
}
