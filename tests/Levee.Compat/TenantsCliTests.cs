using System.Text.Json;
using Confluent.Kafka;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// Tenants made with `levee tenants create` and used with kcat, confluent-kafka-python and Confluent.Kafka over
/// SASL/SCRAM-SHA-512 with the credentials it printed: two tenants with the same topic and group names each see,
/// read and list only their own; a credential rotated while producing fails no request; `tenants delete` removes
/// the tenant's topics and users; a tenant's own ACLs (set with kafka-python) hold its users to what it allows. ACLs are on, as in a hosted
/// deployment, with the operator's PLAINTEXT listener a super user (they never apply to tenants).
/// </summary>
public sealed class TenantsCliTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() =>
        _levee = await LeveeProcess.StartWithSaslListenerAsync("--set", "authorizer.enabled=true", "--set", "super.users=User:ANONYMOUS");

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    private string SaslBootstrap => $"127.0.0.1:{_levee.SaslPort}";

    [Fact]
    public async Task TwoTenants_WithTheSameNames_EachSeeOnlyTheirOwn_AcrossKcatPythonAndConfluentKafka()
    {
        var acme = await CreateAsync("acme", "basic-0");
        var globex = await CreateAsync("globex", "basic-1");
        Assert.Equal(SaslBootstrap, acme.BootstrapServers);
        Assert.Equal("SASL_PLAINTEXT", acme.SecurityProtocol);
        Assert.Equal("SCRAM-SHA-512", acme.SaslMechanism);
        Assert.StartsWith("acme-", acme.Username, StringComparison.Ordinal);

        // acme writes with kcat, globex with confluent-kafka-python, both to "orders".
        var kcat = await Tool.RunAsync("kcat", [.. Kcat(acme), "-P", "-t", "orders"], stdin: "from-acme\n");
        Assert.True(kcat.ExitCode == 0, kcat.StdErr);
        var python = await Tool.RunAsync(Tool.Python, ["-c", """
            import sys
            from confluent_kafka import Producer
            from confluent_kafka.admin import AdminClient, NewTopic
            conf = {'bootstrap.servers': sys.argv[1], 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': 'SCRAM-SHA-512',
                    'sasl.username': sys.argv[2], 'sasl.password': sys.argv[3]}
            admin = AdminClient(conf)
            for f in admin.create_topics([NewTopic('orders', num_partitions=1, replication_factor=1)]).values():
                f.result(timeout=30)
            p = Producer(dict(conf, acks='all'))
            p.produce('orders', value=b'from-globex')
            assert p.flush(30) == 0
            print(sorted(admin.list_topics(timeout=10).topics))
            """, globex.BootstrapServers, globex.Username, globex.Password]);
        Assert.True(python.ExitCode == 0, python.StdErr);
        Assert.Equal("['orders']", python.StdOut.Trim());

        // Each reads exactly its own record, in a group both call "billing".
        Assert.Equal(["from-acme"], Consume(acme, "billing", 1));
        Assert.Equal(["from-globex"], Consume(globex, "billing", 1));

        var listed = await Tool.RunAsync("kcat", [.. Kcat(acme), "-L", "-J"]);
        Assert.True(listed.ExitCode == 0, listed.StdErr);
        using var metadata = JsonDocument.Parse(listed.StdOut);
        Assert.Equal(["orders"], metadata.RootElement.GetProperty("topics").EnumerateArray().Select(t => t.GetProperty("topic").GetString()));

        // The operator's listener shows what is stored.
        var stored = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-L", "-J"]);
        using var storedMetadata = JsonDocument.Parse(stored.StdOut);
        var names = storedMetadata.RootElement.GetProperty("topics").EnumerateArray().Select(t => t.GetProperty("topic").GetString()).ToHashSet();
        Assert.Contains("acme.orders", names);
        Assert.Contains("globex.orders", names);
    }

    [Fact]
    public async Task ACredentialRotatedWhileProducing_FailsNoRequest_AndTheOldOneIsRevoked()
    {
        var first = await CreateAsync("acme", "basic-1");
        var failures = 0;
        using var stop = new CancellationTokenSource();
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig(Client(first)) { Acks = Acks.All, LingerMs = 5, MessageTimeoutMs = 30_000 }).Build();
        var producing = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await producer.ProduceAsync("rolling", new Message<Null, string> { Value = "old" });
                }
                catch (ProduceException<Null, string>)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        var rotated = await Tool.RunAsync("dotnet", [Levee, "tenants", "credentials", "rotate", "acme", "--json", "--client-bootstrap", SaslBootstrap, .. Operator]);
        Assert.True(rotated.ExitCode == 0, rotated.StdErr);
        var second = Parse(rotated.StdOut);
        Assert.NotEqual(first.Username, second.Username);
        using (var next = new ProducerBuilder<Null, string>(new ProducerConfig(Client(second)) { Acks = Acks.All }).Build())
        {
            await next.ProduceAsync("rolling", new Message<Null, string> { Value = "new" });
        }

        var revoked = await Tool.RunAsync("dotnet", [Levee, "tenants", "credentials", "revoke", "acme", first.Username, .. Operator]);
        Assert.True(revoked.ExitCode == 0, revoked.StdErr + revoked.StdOut);
        await stop.CancelAsync();
        await producing;
        Assert.Equal(0, failures);

        // The old producer's connection, authenticated before the revocation, keeps delivering.
        for (var i = 0; i < 10; i++)
        {
            await producer.ProduceAsync("rolling", new Message<Null, string> { Value = "after revocation" });
        }

        // A new connection with the revoked credential is refused.
        var refused = await Tool.RunAsync("kcat", [.. Kcat(first), "-L", "-m", "5"]);
        Assert.NotEqual(0, refused.ExitCode);
    }

    [Fact]
    public async Task ATenantsAclsSetWithKafkaPython_HoldItsOtherUserToReading_WithKcat_AndGoWithTheTenant()
    {
        var owner = await CreateAsync("acme", "basic-0");
        var rotated = await Tool.RunAsync("dotnet", [Levee, "tenants", "credentials", "rotate", "acme", "--json", "--client-bootstrap", SaslBootstrap, .. Operator]);
        Assert.True(rotated.ExitCode == 0, rotated.StdErr);
        var reader = Parse(rotated.StdOut);

        // The owner: a topic, then ACLs in the tenant's names: it may do anything on orders, every acme user may read.
        var python = await Tool.RunAsync(Tool.Python, ["-c", """
            import sys
            from kafka.admin import (KafkaAdminClient, NewTopic, ACL, ACLFilter, ResourcePattern, ResourcePatternFilter,
                                     ResourceType, ACLOperation, ACLPermissionType, ACLResourcePatternType)
            admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], security_protocol='SASL_PLAINTEXT', sasl_mechanism='SCRAM-SHA-512',
                                     sasl_plain_username=sys.argv[2], sasl_plain_password=sys.argv[3])
            admin.create_topics([NewTopic('orders', num_partitions=1, replication_factor=1)])
            def acl(principal, operation):
                return ACL(principal=principal, host='*', operation=operation, permission_type=ACLPermissionType.ALLOW,
                           resource_pattern=ResourcePattern(ResourceType.TOPIC, 'orders', ACLResourcePatternType.LITERAL))
            created = admin.create_acls([acl('User:' + sys.argv[2], ACLOperation.ALL), acl('User:*', ACLOperation.READ)])
            assert not created['failed'], created['failed']
            found, error = admin.describe_acls(ACLFilter(principal=None, host=None, operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                                                         resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)))
            print(sorted(f'{a.resource_pattern.resource_name} {a.principal} {a.operation.name}' for a in found))
            """, owner.BootstrapServers, owner.Username, owner.Password]);
        Assert.True(python.ExitCode == 0, python.StdErr);
        Assert.Equal($"['orders User:* READ', 'orders User:{owner.Username} ALL']", python.StdOut.Trim());

        var written = await Tool.RunAsync("kcat", [.. Kcat(owner), "-P", "-t", "orders"], stdin: "by-owner\n");
        Assert.True(written.ExitCode == 0, written.StdErr);
        var denied = await Tool.RunAsync("kcat", [.. Kcat(reader), "-P", "-t", "orders", "-X", "message.timeout.ms=5000"], stdin: "by-reader\n");
        Assert.Contains("authorization failed", denied.StdErr, StringComparison.OrdinalIgnoreCase);
        var read = await Tool.RunAsync("kcat", [.. Kcat(reader), "-C", "-t", "orders", "-o", "beginning", "-e", "-q"]);
        Assert.True(read.ExitCode == 0, read.StdErr);
        Assert.Equal("by-owner", read.StdOut.Trim());

        // The operators see them under the stored names; deleting the tenant removes them.
        var listed = await Tool.RunAsync("dotnet", [Levee, "acls", "list", .. Operator]);
        Assert.Contains("acme.orders", listed.StdOut, StringComparison.Ordinal);
        Assert.Contains("Tenant:acme", listed.StdOut, StringComparison.Ordinal);
        var deleted = await Tool.RunAsync("dotnet", [Levee, "tenants", "delete", "acme", .. Operator]);
        Assert.True(deleted.ExitCode == 0, deleted.StdErr + deleted.StdOut);
        var after = await Tool.RunAsync("dotnet", [Levee, "acls", "list", .. Operator]);
        Assert.True(after.ExitCode == 0, after.StdErr);
        Assert.DoesNotContain("acme", after.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletingATenant_RemovesItsTopicsAndUsers()
    {
        var acme = await CreateAsync("acme", "basic-0");
        var kcat = await Tool.RunAsync("kcat", [.. Kcat(acme), "-P", "-t", "orders"], stdin: "x\n");
        Assert.True(kcat.ExitCode == 0, kcat.StdErr);

        var deleted = await Tool.RunAsync("dotnet", [Levee, "tenants", "delete", "acme", .. Operator]);
        Assert.True(deleted.ExitCode == 0, deleted.StdErr + deleted.StdOut);
        Assert.Contains("acme.orders", deleted.StdOut, StringComparison.Ordinal);

        var listed = await Tool.RunAsync("dotnet", [Levee, "tenants", "list", "--json", .. Operator]);
        Assert.Equal("{}", listed.StdOut.Trim());
        var stored = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-L", "-J"]);
        Assert.DoesNotContain("acme.orders", stored.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Acme")]
    [InlineData("a.b")]
    [InlineData("..")]
    public async Task ATenantNameThatCouldEscapeItsNamespace_IsRefused(string name)
    {
        var result = await Tool.RunAsync("dotnet", [Levee, "tenants", "create", name, "--plan", "basic-0", .. Operator]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(name, result.StdErr + result.StdOut, StringComparison.Ordinal);
    }

    private static string Levee => Path.Combine(AppContext.BaseDirectory, "levee.dll");

    private string[] Operator => ["--bootstrap", _levee.BootstrapServers];

    private async Task<Credentials> CreateAsync(string tenant, string plan)
    {
        var created = await Tool.RunAsync("dotnet", [Levee, "tenants", "create", tenant, "--plan", plan, "--json", "--client-bootstrap", SaslBootstrap, .. Operator]);
        Assert.True(created.ExitCode == 0, created.StdErr);
        return Parse(created.StdOut);
    }

    private static Credentials Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return new Credentials(
            root.GetProperty("bootstrap_servers").GetString()!,
            root.GetProperty("security_protocol").GetString()!,
            root.GetProperty("sasl_mechanism").GetString()!,
            root.GetProperty("username").GetString()!,
            root.GetProperty("password").GetString()!);
    }

    private static string[] Kcat(Credentials c) =>
        ["-b", c.BootstrapServers, "-X", "security.protocol=" + c.SecurityProtocol, "-X", "sasl.mechanisms=" + c.SaslMechanism, "-X", "sasl.username=" + c.Username, "-X", "sasl.password=" + c.Password];

    private static ClientConfig Client(Credentials c) => new()
    {
        BootstrapServers = c.BootstrapServers,
        SecurityProtocol = SecurityProtocol.SaslPlaintext,
        SaslMechanism = SaslMechanism.ScramSha512,
        SaslUsername = c.Username,
        SaslPassword = c.Password,
    };

    private static List<string> Consume(Credentials credentials, string group, int count)
    {
        var config = new ConsumerConfig(Client(credentials)) { GroupId = group, AutoOffsetReset = AutoOffsetReset.Earliest };
        using var consumer = new ConsumerBuilder<Null, string>(config).Build();
        consumer.Subscribe("orders");
        var values = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (values.Count < count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } result)
            {
                values.Add(result.Message.Value);
            }
        }

        consumer.Close();
        return values;
    }

    private sealed record Credentials(string BootstrapServers, string SecurityProtocol, string SaslMechanism, string Username, string Password);
}
