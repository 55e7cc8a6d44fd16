using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;
using Levee.Tests.Tls;
using LeveeError = Levee.Protocol.ErrorCode;

namespace Levee.Broker.Tests.Tenants;

/// <summary>
/// A client certificate bound to a tenant (its mapped name among the tenant's users): a client presenting it on an SSL
/// listener is in the tenant's namespace, as a SCRAM user of the tenant is; a certificate bound to no tenant sees the
/// real names.
/// </summary>
public sealed class TenantCertificateTests : IAsyncLifetime
{
    private const sbyte TenantType = 100;
    private const sbyte Set = 0;
    private const sbyte Append = 2;
    private readonly TestCertificates _certificates = TestCertificates.Create();
    private TestBroker _broker = null!;

    private string Ssl => Address("SSL");

    private string Operator => Address("BROKER");

    public async Task InitializeAsync()
    {
        _broker = await TestBroker.StartAsync(o => o with
        {
            Listeners = "SSL://127.0.0.1:0,BROKER://127.0.0.1:0",
            AutoCreateTopics = false,
            SslKeystoreLocation = _certificates.WriteServerKeystore().Path,
            SslTruststoreLocation = _certificates.CaFile,
            SslClientAuth = SslClientAuth.Required,
            SslPrincipalMappingRules = "RULE:^CN=([^,]*).*$/$1/,DEFAULT",
        });
        var (error, message) = await TenantTestExtensions.TryAlterAsync(Operator, TenantType, "acme", ("plan", Set, "basic-0"), ("users", Append, "acme-device"));
        Assert.True(error == LeveeError.None, $"{error}: {message}");
    }

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _certificates.Dispose();
    }

    [Fact]
    public async Task ACertificateBoundToATenant_WorksInItsNamespace_AndAnotherSeesRealNames()
    {
        var device = Config("CN=acme-device,O=Acme", "device");
        using (var admin = new AdminClientBuilder(device).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 1, ReplicationFactor = 1 }]);
            Assert.Equal(["orders"], admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic).Where(t => !t.StartsWith("__", StringComparison.Ordinal)));
        }

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig(device)).Build())
        {
            await producer.ProduceAsync("orders", new Message<Null, string> { Value = "from a device" });
        }

        // Stored in the tenant's namespace, as an operator's certificate (bound to no tenant) sees it.
        using var operatorAdmin = new AdminClientBuilder(Config("CN=ops,O=Acme", "ops")).Build();
        var topics = operatorAdmin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Select(t => t.Topic).Where(t => !t.StartsWith("__", StringComparison.Ordinal)).ToList();
        Assert.Equal(["acme.orders"], topics);
    }

    private ClientConfig Config(string subject, string name)
    {
        var (certificate, key) = _certificates.WriteClientFiles(subject, name);
        return new ClientConfig
        {
            BootstrapServers = Ssl,
            SecurityProtocol = SecurityProtocol.Ssl,
            SslCaLocation = _certificates.CaFile,
            SslCertificateLocation = certificate,
            SslKeyLocation = key,
        };
    }

    private string Address(string listener) =>
        _broker.Broker.Identity.Endpoints.Single(e => e.Name == listener) is var e ? $"{e.Host}:{e.Port}" : "";
}
