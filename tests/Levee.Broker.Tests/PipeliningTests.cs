using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests;

public sealed class PipeliningTests : IAsyncLifetime
{
    private TestBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await TestBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task ManyRequestsInFlightOnOneConnection_AreAnsweredInOrder()
    {
        using var client = await RawKafkaClient.ConnectAsync(_broker.BootstrapServers);
        var sent = new List<(int Id, ApiKey Key, short Version)>();
        for (var i = 0; i < 100; i++)
        {
            // Alternate APIs and versions so responses of different sizes and header versions interleave.
            if (i % 2 == 0)
            {
                var id = await client.SendAsync(ApiKey.ApiVersions, 3, (ref KafkaWriter w) => new ApiVersionsRequest { ClientSoftwareName = "levee-tests", ClientSoftwareVersion = "1" }.Write(ref w, 3));
                sent.Add((id, ApiKey.ApiVersions, 3));
            }
            else
            {
                var id = await client.SendAsync(ApiKey.Metadata, 12, (ref KafkaWriter w) => new MetadataRequest { Topics = [] }.Write(ref w, 12));
                sent.Add((id, ApiKey.Metadata, 12));
            }
        }

        foreach (var (id, key, version) in sent)
        {
            // ReceiveAsync asserts the correlation id of each response, so any reordering fails here.
            var body = await client.ReceiveAsync(key, version, id);
            Assert.NotNull(body);
        }
    }
}
