using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests.Security;

/// <summary>ACLs decided on SASL principals: what one user may, another may not; a super user may do anything.</summary>
public sealed class SaslAclTests : IAsyncLifetime
{
    private const string Password = "pw-for-acl-tests";
    private TestBroker _broker = null!;

    private string Sasl => Address("SASL_PLAINTEXT");

    private string Setup => Address("BROKER");

    public async Task InitializeAsync()
    {
        _broker = await TestBroker.StartAsync(o => o with
        {
            Listeners = "SASL_PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0",
            AuthorizerEnabled = true,
            SuperUsers = new HashSet<string>(StringComparer.Ordinal) { "User:admin" },
        });

        // Set-up over the inter-broker listener, whose connections are brokers.
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Setup }).Build();
        await admin.AlterUserScramCredentialsAsync(new[] { "alice", "bob", "admin" }.Select(u => (UserScramCredentialAlteration)new UserScramCredentialUpsertion
        {
            User = u,
            ScramCredentialInfo = new ScramCredentialInfo { Mechanism = ScramMechanism.ScramSha512, Iterations = 4096 },
            Password = Encoding.UTF8.GetBytes(Password),
        }));
        await admin.CreateTopicsAsync([new TopicSpecification { Name = "orders-1", NumPartitions = 1, ReplicationFactor = 1 }]);
        await admin.CreateAclsAsync(
        [
            new AclBinding { Pattern = new ResourcePattern { Type = ResourceType.Topic, Name = "orders-", ResourcePatternType = ResourcePatternType.Prefixed }, Entry = new AccessControlEntry { Principal = "User:alice", Host = "*", Operation = AclOperation.Read, PermissionType = AclPermissionType.Allow } },
            new AclBinding { Pattern = new ResourcePattern { Type = ResourceType.Group, Name = "orders-", ResourcePatternType = ResourcePatternType.Prefixed }, Entry = new AccessControlEntry { Principal = "User:alice", Host = "*", Operation = AclOperation.Read, PermissionType = AclPermissionType.Allow } },
        ]);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = Setup }).Build();
        await producer.ProduceAsync("orders-1", new Message<Null, string> { Value = "for alice" });
    }

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public void AUserWithReadOnAPrefix_Consumes_AndAnotherUserIsRefused()
    {
        Assert.Equal("for alice", Consume("alice", "orders-app", out var aliceError));
        Assert.Null(aliceError);

        Assert.Null(Consume("bob", "orders-app", out var bobError));
        Assert.True(bobError is ErrorCode.TopicAuthorizationFailed or ErrorCode.GroupAuthorizationFailed, $"bob got {bobError}");
    }

    [Fact]
    public async Task AUserWithOnlyRead_CannotProduce_ButASuperUserCan()
    {
        var alice = await ProduceAsync("alice");
        var admin = await ProduceAsync("admin");

        Assert.Equal(ErrorCode.TopicAuthorizationFailed, alice);
        Assert.Equal(ErrorCode.NoError, admin);
    }

    private string Address(string listener) =>
        _broker.Broker.Identity.Endpoints.Single(e => e.Name == listener) is var e ? $"{e.Host}:{e.Port}" : "";

    private ClientConfig Config(string user) => new()
    {
        BootstrapServers = Sasl,
        SecurityProtocol = SecurityProtocol.SaslPlaintext,
        SaslMechanism = SaslMechanism.ScramSha512,
        SaslUsername = user,
        SaslPassword = Password,
    };

    private string? Consume(string user, string group, out ErrorCode? error)
    {
        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig(Config(user)) { GroupId = group, AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false }).Build();
        consumer.Subscribe("orders-1");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        error = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (consumer.Consume(TimeSpan.FromSeconds(1)) is { } record)
                {
                    return record.Message.Value;
                }
            }
            catch (ConsumeException e) when (e.Error.Code is ErrorCode.TopicAuthorizationFailed or ErrorCode.GroupAuthorizationFailed)
            {
                error = e.Error.Code;
                return null;
            }
        }

        return null;
    }

    private async Task<ErrorCode> ProduceAsync(string user)
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig(Config(user)) { MessageTimeoutMs = 20_000 }).Build();
        try
        {
            await producer.ProduceAsync("orders-1", new Message<Null, string> { Value = $"from {user}" });
            return ErrorCode.NoError;
        }
        catch (ProduceException<Null, string> e)
        {
            return e.Error.Code;
        }
    }
}
