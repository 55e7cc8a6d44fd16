using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Tests.Infrastructure;

namespace Levee.Broker.Tests.Admin;

/// <summary>The admin HTTP API of real brokers, read over HTTP while Confluent.Kafka clients use them over TCP.</summary>
public sealed class AdminApiTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task AdminApi_OnALiveBroker_ShowsClusterTopicsGroupLagAndCapacity()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { AdminListener = "127.0.0.1:0", BrokerCapacityPartitions = 1234 });
        using var http = Client(broker.Broker);
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "orders", NumPartitions = 3, ReplicationFactor = 1 }]);
        }

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            for (var i = 0; i < 30; i++)
            {
                await producer.ProduceAsync(new TopicPartition("orders", i % 3), new Message<Null, string> { Value = "order " + i });
            }
        }

        // A group commits offset 4 in partition 0, which holds 10 records: a lag of 6 there.
        using (var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "billing" }).Build())
        {
            // The offsets topic is created by this first use of a group: until its partition is loaded the broker answers
            // NOT_COORDINATOR, which a client retries (once seen in CI).
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                try
                {
                    consumer.Commit([new TopicPartitionOffset("orders", 0, 4)]);
                    break;
                }
                catch (KafkaException e) when (e.Error.Code is ErrorCode.NotCoordinatorForGroup or ErrorCode.GroupLoadInProgress && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100);
                }
            }
        }

        using var cluster = await GetJsonAsync(http, "api/cluster");
        var root = cluster.RootElement;
        Assert.False(string.IsNullOrEmpty(root.GetProperty("cluster_id").GetString()));
        Assert.Equal(1, root.GetProperty("controller_id").GetInt32());
        Assert.Equal(1, root.GetProperty("broker").GetInt32());
        var self = Assert.Single(root.GetProperty("brokers").EnumerateArray());
        Assert.Equal("alive", self.GetProperty("state").GetString());
        Assert.False(self.GetProperty("fenced").GetBoolean());
        var endpoint = Assert.Single(self.GetProperty("endpoints").EnumerateArray());
        Assert.Equal(broker.Broker.Identity.Port, endpoint.GetProperty("port").GetInt32());
        Assert.Equal("PLAINTEXT", endpoint.GetProperty("security_protocol").GetString());

        using var topics = await GetJsonAsync(http, "api/topics");
        var orders = topics.RootElement.EnumerateArray().Single(t => t.GetProperty("name").GetString() == "orders");
        Assert.Equal(1, orders.GetProperty("replication_factor").GetInt32());
        Assert.Equal(0, orders.GetProperty("under_replicated").GetInt32());
        Assert.Equal(0, orders.GetProperty("offline").GetInt32());
        var partitions = orders.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], partitions.Select(p => p.GetProperty("partition").GetInt32()));
        Assert.All(partitions, p =>
        {
            Assert.Equal(1, p.GetProperty("leader").GetInt32());
            Assert.Equal([1], p.GetProperty("isr").EnumerateArray().Select(i => i.GetInt32()));
            Assert.Equal(10, p.GetProperty("high_watermark").GetInt64());
            Assert.True(p.GetProperty("log_size_bytes").GetInt64() > 0);
        });

        using var groups = await GetJsonAsync(http, "api/groups");
        var billing = groups.RootElement.EnumerateArray().Single(g => g.GetProperty("group_id").GetString() == "billing");
        Assert.Equal(6, billing.GetProperty("lag").GetInt64());
        var committed = Assert.Single(billing.GetProperty("partitions").EnumerateArray());
        Assert.Equal(4, committed.GetProperty("committed_offset").GetInt64());
        Assert.Equal(10, committed.GetProperty("high_watermark").GetInt64());

        using var capacity = await GetJsonAsync(http, "api/capacity");
        Assert.Equal(0.2, capacity.RootElement.GetProperty("headroom_margin").GetDouble(), 6);
        var resources = Assert.Single(capacity.RootElement.GetProperty("brokers").EnumerateArray()).GetProperty("resources");
        var replicas = resources.GetProperty("partitions");
        Assert.Equal(1234, replicas.GetProperty("limit").GetInt64());
        Assert.True(replicas.GetProperty("used").GetInt64() >= 3, replicas.ToString());
        Assert.Equal(replicas.GetProperty("bound").GetInt64() - replicas.GetProperty("worst").GetInt64(), replicas.GetProperty("headroom").GetInt64());
        Assert.True(resources.TryGetProperty("disk_bytes", out _));

        using var tenants = await GetJsonAsync(http, "api/tenants");
        Assert.Equal(JsonValueKind.Array, tenants.RootElement.ValueKind);

        using var openApi = await GetJsonAsync(http, "openapi/v1.json");
        var paths = openApi.RootElement.GetProperty("paths");
        foreach (var path in new[] { "/api/cluster", "/api/topics", "/api/groups", "/api/tenants", "/api/capacity", "/api/elections" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{path} missing from the OpenAPI document: {paths}");
        }

        var page = await http.GetStringAsync("/");
        Assert.Contains("<title>Levee</title>", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AdminApi_OnAThreeBrokerCluster_ShowsAStoppedBrokerFencedAndItsPartitionsUnderReplicated()
    {
        await using var cluster = await TestCluster.StartAsync(3, o => o with { AdminListener = "127.0.0.1:0", BrokerSessionTimeoutMs = 3000, BrokerHeartbeatIntervalMs = 500 });
        using var http = Client(cluster.Brokers[0]!);
        using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = "spread", NumPartitions = 6, ReplicationFactor = 3 }]);
        }

        await PollAsync(http, "api/topics", topics => Spread(topics) is { } t && t.GetProperty("partitions").EnumerateArray().Count(p => p.GetProperty("leader").GetInt32() >= 0) == 6 && t.GetProperty("under_replicated").GetInt32() == 0);
        using (var clusterView = await GetJsonAsync(http, "api/cluster"))
        {
            var brokers = clusterView.RootElement.GetProperty("brokers").EnumerateArray().ToList();
            Assert.Equal([1, 2, 3], brokers.Select(b => b.GetProperty("id").GetInt32()));
            Assert.All(brokers, b => Assert.Equal("alive", b.GetProperty("state").GetString()));
            Assert.Equal(18, brokers.Sum(b => b.GetProperty("replicas").GetInt32()));
            Assert.Equal(6, brokers.Sum(b => b.GetProperty("leaders").GetInt32()));
        }

        using (var capacity = await GetJsonAsync(http, "api/capacity"))
        {
            Assert.Equal(3, capacity.RootElement.GetProperty("brokers").GetArrayLength());
        }

        await cluster.StopAsync(3);
        await PollAsync(http, "api/cluster", c => c.GetProperty("brokers").EnumerateArray().Single(b => b.GetProperty("id").GetInt32() == 3).GetProperty("state").GetString() == "fenced");
        await PollAsync(http, "api/topics", topics => Spread(topics) is { } t && t.GetProperty("under_replicated").GetInt32() == 6
            && t.GetProperty("partitions").EnumerateArray().All(p => p.GetProperty("leader").GetInt32() is 1 or 2));

        // Broker 3 led two partitions: controlled shutdown moved them, and broker 1 applied both elections.
        using var elections = await GetJsonAsync(http, "api/elections");
        Assert.True(elections.RootElement.GetProperty("leader_elections").GetInt64() >= 2, elections.RootElement.ToString());
        Assert.True(elections.RootElement.GetProperty("isr_shrinks").GetInt64() >= 6, elections.RootElement.ToString());
        var moved = elections.RootElement.GetProperty("recent").EnumerateArray().Where(e => e.GetProperty("topic").GetString() == "spread" && e.GetProperty("previous_leader").GetInt32() == 3).ToList();
        Assert.Equal(2, moved.Count);
        Assert.All(moved, e => Assert.True(e.GetProperty("leader").GetInt32() is 1 or 2));

        static JsonElement? Spread(JsonElement topics) =>
            topics.EnumerateArray().Where(t => t.GetProperty("name").GetString() == "spread").Select(t => (JsonElement?)t).FirstOrDefault();
    }

    [Fact]
    public async Task AdminToken_WhenSet_IsRequiredByEveryRouteButTheDashboardPage()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { AdminListener = "0.0.0.0:0", AdminToken = new SecretText("s3cret-token") });
        Assert.NotNull(broker.Broker.AdminAddress);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.Broker.AdminAddress!.Port}/") };

        foreach (var path in new[] { "api/cluster", "api/topics", "metrics", "openapi/v1.json" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(path)).StatusCode);
            using var wrong = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-tokem") } };
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
            using var right = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-token") } };
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(right)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task AdminListener_OffLoopbackWithoutAToken_StopsTheStart()
    {
        var dir = Directory.CreateTempSubdirectory("levee-test-");
        try
        {
            var error = await Assert.ThrowsAsync<BrokerConfigurationException>(() => LeveeBroker.StartAsync(new BrokerOptions { DataDir = dir.FullName, Port = 0, QuorumPort = 0, AdminListener = "0.0.0.0:0" }));
            Assert.Contains("admin.token", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static HttpClient Client(LeveeBroker broker) =>
        new() { BaseAddress = broker.AdminAddress ?? throw new InvalidOperationException("the broker has no admin listener") };

    private static async Task<JsonDocument> GetJsonAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Reads <paramref name="path"/> until <paramref name="done"/> holds, failing with the last answer after the deadline.</summary>
    private static async Task PollAsync(HttpClient http, string path, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            using var document = await GetJsonAsync(http, path);
            if (done(document.RootElement))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{path} still shows {document.RootElement} after {Deadline.TotalSeconds} s");
            await Task.Delay(200);
        }
    }
}
