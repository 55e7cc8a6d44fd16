using System.Globalization;
using System.Text;
using Levee.Broker.Cluster;
using Levee.Protocol.Messages;

namespace Levee.Compat.Infrastructure;

/// <summary>
/// The broker's own Kafka client (<see cref="BrokerClient"/>) authenticated with SASL/PLAIN: SaslHandshake v1 and
/// SaslAuthenticate v2 as framed requests (KIP-152), for tests that speak requests no client library sends (Levee's
/// TENANT config resources) or that need hundreds of connections.
/// </summary>
public static class SaslPlainClient
{
    /// <summary>A client of <paramref name="bootstrap"/> authenticated as <paramref name="user"/>.</summary>
    public static async Task<BrokerClient> ConnectAsync(string bootstrap, string user, string password, string clientId, CancellationToken cancellationToken = default)
    {
        var colon = bootstrap.LastIndexOf(':');
        var client = new BrokerClient(bootstrap[..colon], int.Parse(bootstrap[(colon + 1)..], CultureInfo.InvariantCulture), clientId, TimeSpan.FromSeconds(60));
        try
        {
            var handshake = await client.SendAsync<SaslHandshakeRequest, SaslHandshakeResponse>(ApiKey.SaslHandshake, 1, new SaslHandshakeRequest { Mechanism = "PLAIN" }, cancellationToken);
            Assert.Equal(0, handshake.ErrorCode);
            var token = Encoding.UTF8.GetBytes($"\0{user}\0{password}");
            var authenticated = await client.SendAsync<SaslAuthenticateRequest, SaslAuthenticateResponse>(ApiKey.SaslAuthenticate, 2, new SaslAuthenticateRequest { AuthBytes = token }, cancellationToken);
            Assert.True(authenticated.ErrorCode == 0, $"{user} was not authenticated: {authenticated.ErrorMessage}");
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>IncrementalAlterConfigs of one resource; asserts it succeeded.</summary>
    public static async Task AlterConfigsAsync(this BrokerClient client, sbyte resourceType, string name, params (string Key, sbyte Op, string? Value)[] changes)
    {
        var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = resourceType, ResourceName = name };
        resource.Configs.AddRange(changes.Select(c => new IncrementalAlterConfigsRequest.AlterableConfig { Name = c.Key, ConfigOperation = c.Op, Value = c.Value }));
        var request = new IncrementalAlterConfigsRequest();
        request.Resources.Add(resource);
        var result = (await client.SendAsync<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, request, CancellationToken.None)).Responses.Single();
        Assert.True(result.ErrorCode == 0, $"{name}: {result.ErrorCode} {result.ErrorMessage}");
    }
}
