using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Cluster;
using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Configuration;

namespace Levee.Broker.Tests;

/// <summary>Issue 12: the broker.capacity.* settings, and Levee's read-only CAPACITY config resource (type 102).</summary>
public sealed class CapacityConfigsTests
{
    private const sbyte CapacityType = 102;

    [Fact]
    public async Task TheCapacityResource_ShowsLimitUsedBoundAndWorst_OfEachResource_AndAnUnknownBrokerIsNotFound()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { BrokerCapacityPartitions = 40, BrokerCapacityConnections = 500, HeadroomMargin = 0.25 });
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "six", NumPartitions = 6, ReplicationFactor = 1, Configs = new() { ["retention.bytes"] = "1000" } }]);
        }

        var (error, _, configs) = await DescribeAsync(broker, "1");
        Assert.Equal(0, error);
        Assert.Equal("0.25", configs["headroom.margin"]);
        Assert.Equal("40", configs["partitions.limit"]);
        Assert.Equal("6", configs["partitions.used"]);

        // A single broker has no survivor: its bound is its limit, its worst is now.
        Assert.Equal("40", configs["partitions.bound"]);
        Assert.Equal("6", configs["partitions.worst"]);
        Assert.Equal("none", configs["partitions.worst.failure"]);
        Assert.Equal("6000", configs["disk_bytes.used"]);
        Assert.Equal("500", configs["connections.limit"]);
        Assert.True(long.Parse(configs["bytes_in_per_sec.limit"], CultureInfo.InvariantCulture) > 0);

        var (missing, message, _) = await DescribeAsync(broker, "7");
        Assert.Equal((short)ErrorCode.ResourceNotFound, missing);
        Assert.Equal("No live broker has the id '7'.", message);
    }

    [Fact]
    public async Task ABiggerPlanThanTheBrokerCanServe_IsRefusedByTheHeadroomGuard_AndASmallerOneAccepted()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { BrokerCapacityBytesOutPerSec = 4_000_000 });
        Assert.Equal((0, null), await AlterAsync(broker, 100, "acme", ("plan", "basic-0")));
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "acme.orders", NumPartitions = 2, ReplicationFactor = 1 }]);
        }

        // basic-2 lets the tenant read 16 MiB/s from this broker's leaders: more than the 4 MB/s it can send.
        var (error, message) = await AlterAsync(broker, 100, "acme", ("plan", "basic-2"));
        Assert.Equal((short)ErrorCode.PolicyViolation, error);
        Assert.Equal("Changing tenant 'acme' would take broker 1 to 16777216 bytes_out_per_sec, over its limit of 4000000 (broker.capacity.bytes.out.per.sec).", message);
        Assert.Equal((0, null), await AlterAsync(broker, 100, "acme", ("plan", "basic-1")));
    }

    [Fact]
    public void CapacitySettings_AreReadByTheirNames_AndZeroOrNegativeOnesAreRefused()
    {
        var options = FromSettings(("broker.capacity.disk.bytes", "1000000"), ("broker.capacity.bytes.in.per.sec", "2000"), ("broker.capacity.bytes.out.per.sec", "3000"), ("broker.capacity.connections", "40"), ("headroom.margin", "0.3"));
        var capacity = options.ResolveCapacity();
        Assert.Equal(new Levee.Cluster.Controller.BrokerCapacity(50_000, 1_000_000, 2000, 3000, 40), capacity);
        Assert.Equal(0.3, options.HeadroomMargin);

        // Unset: derived from this machine.
        var derived = FromSettings().ResolveCapacity();
        Assert.True(derived.DiskBytes > 0 && derived.BytesInPerSec > 0 && derived.Connections > 0);

        Assert.Contains("'broker.capacity.connections' must be positive", Assert.Throws<BrokerConfigurationException>(() => FromSettings(("broker.capacity.connections", "0"))).Message, StringComparison.Ordinal);
        Assert.Contains("'headroom.margin' must be at least 0 and below 1", Assert.Throws<BrokerConfigurationException>(() => FromSettings(("headroom.margin", "1"))).Message, StringComparison.Ordinal);
        Assert.Contains("'headroom.margin' must be a number", Assert.Throws<BrokerConfigurationException>(() => FromSettings(("headroom.margin", "lots"))).Message, StringComparison.Ordinal);
    }

    private static async Task<(short Error, string? Message, Dictionary<string, string> Configs)> DescribeAsync(TestBroker broker, string name)
    {
        var colon = broker.BootstrapServers.LastIndexOf(':');
        await using var client = new BrokerClient(broker.BootstrapServers[..colon], int.Parse(broker.BootstrapServers[(colon + 1)..], CultureInfo.InvariantCulture), "capacity-tests");
        var request = new DescribeConfigsRequest();
        request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = CapacityType, ResourceName = name, ConfigurationKeys = null });
        var response = await client.SendAsync<DescribeConfigsRequest, DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, request, CancellationToken.None);
        var result = response.Results.Single();
        return (result.ErrorCode, result.ErrorMessage, result.Configs.ToDictionary(c => c.Name, c => c.Value ?? ""));
    }

    private static async Task<(short Error, string? Message)> AlterAsync(TestBroker broker, sbyte type, string name, params (string Key, string Value)[] settings)
    {
        var colon = broker.BootstrapServers.LastIndexOf(':');
        await using var client = new BrokerClient(broker.BootstrapServers[..colon], int.Parse(broker.BootstrapServers[(colon + 1)..], CultureInfo.InvariantCulture), "capacity-tests");
        var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = type, ResourceName = name };
        resource.Configs.AddRange(settings.Select(s => new IncrementalAlterConfigsRequest.AlterableConfig { Name = s.Key, ConfigOperation = 0, Value = s.Value }));
        var request = new IncrementalAlterConfigsRequest();
        request.Resources.Add(resource);
        var response = await client.SendAsync<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, request, CancellationToken.None);
        var result = response.Responses.Single();
        return (result.ErrorCode, result.ErrorMessage);
    }

    private static BrokerOptions FromSettings(params (string Key, string Value)[] settings) =>
        BrokerOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());
}
