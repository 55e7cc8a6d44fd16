using System.Text.Json;
using Confluent.Kafka;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// <c>/metrics</c> of a `levee serve` process under load from Confluent.Kafka clients (a plain producer and consumer
/// group, and a tenant over SASL/SCRAM held back by its plan), parsed by a strict Prometheus text-format parser.
/// </summary>
public sealed class MetricsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static string Levee => Path.Combine(AppContext.BaseDirectory, "levee.dll");

    [Fact]
    public async Task Metrics_UnderLoad_ParseAsPrometheusText_WithEveryBrokerMetricAndSensibleValues()
    {
        await using var levee = await LeveeProcess.StartWithSaslListenerAsync();
        Assert.NotNull(levee.AdminAddress);
        using var http = new HttpClient { BaseAddress = levee.AdminAddress };
        string[] bootstrap = ["--bootstrap", levee.BootstrapServers];

        // A plan whose produce rate 40 KB of records exceed (the rate is measured over ten one-second windows at least).
        var plan = await Tool.RunAsync("dotnet", [Levee, "plans", "set", "basic-0", "--config", "producer_byte_rate=2048", .. bootstrap]);
        Assert.True(plan.ExitCode == 0, plan.StdErr);
        var created = await Tool.RunAsync("dotnet", [Levee, "tenants", "create", "acme", "--plan", "basic-0", "--json", "--client-bootstrap", $"127.0.0.1:{levee.SaslPort}", .. bootstrap]);
        Assert.True(created.ExitCode == 0, created.StdErr);
        using var credentials = JsonDocument.Parse(created.StdOut);

        // Plain load: 20 records of 1 KB to "plain", a group that reads them all and commits 5 (a lag of 15).
        var payload = new string('x', 1024);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = levee.BootstrapServers }).Build())
        {
            for (var i = 0; i < 20; i++)
            {
                await producer.ProduceAsync("plain", new Message<Null, string> { Value = payload });
            }
        }

        using (var consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = levee.BootstrapServers, GroupId = "readers", AutoOffsetReset = AutoOffsetReset.Earliest, EnableAutoCommit = false }).Build())
        {
            consumer.Assign(new TopicPartitionOffset("plain", 0, Offset.Beginning));
            var read = 0;
            var until = DateTime.UtcNow + Deadline;
            while (read < 20 && DateTime.UtcNow < until)
            {
                read += consumer.Consume(TimeSpan.FromMilliseconds(200)) is { Message: not null } ? 1 : 0;
            }

            Assert.Equal(20, read);
            consumer.Commit([new TopicPartitionOffset("plain", 0, 5)]);
        }

        // The tenant produces 64 KB as fast as it can: its plan holds it back, which the throttle metric counts.
        var tenantConfig = new ProducerConfig
        {
            BootstrapServers = credentials.RootElement.GetProperty("bootstrap_servers").GetString(),
            SecurityProtocol = SecurityProtocol.SaslPlaintext,
            SaslMechanism = SaslMechanism.ScramSha512,
            SaslUsername = credentials.RootElement.GetProperty("username").GetString(),
            SaslPassword = credentials.RootElement.GetProperty("password").GetString(),
            LingerMs = 0,
        };
        using var tenantProducer = new ProducerBuilder<Null, string>(tenantConfig).Build();
        for (var i = 0; i < 64; i++)
        {
            tenantProducer.Produce("orders", new Message<Null, string> { Value = payload });
        }

        var metrics = await PollAsync(http, m =>
            Value(m, "levee_tenant_throttle_time_seconds_total", ("tenant", "acme")) > 0
            && Value(m, "levee_topic_received_bytes_total", ("topic", "acme.orders"), ("tenant", "acme")) > 0);

        // Request rate and latency per API.
        var produce = Value(metrics, "levee_request_duration_seconds_count", ("api", "Produce"));
        Assert.True(produce >= 20, $"Produce requests counted: {produce}");
        Assert.True(Value(metrics, "levee_request_duration_seconds_count", ("api", "Fetch")) >= 1);
        Assert.True(Value(metrics, "levee_request_duration_seconds_sum", ("api", "Produce")) > 0);
        Assert.Contains(metrics.Samples, s => s.Name == "levee_request_duration_seconds_bucket" && s.Has(("api", "Metadata"), ("le", "+Inf")));

        // Bytes in and out per topic and tenant, log size.
        Assert.InRange(Value(metrics, "levee_topic_received_bytes_total", ("topic", "plain"), ("tenant", "")), 20 * 1024, 40 * 1024);
        Assert.InRange(Value(metrics, "levee_topic_sent_bytes_total", ("topic", "plain"), ("tenant", "")), 20 * 1024, 80 * 1024);
        Assert.InRange(Value(metrics, "levee_log_size_bytes", ("topic", "plain")), 20 * 1024, 40 * 1024);

        // Partitions and replication on a healthy single broker.
        Assert.Equal(0, Value(metrics, "levee_partitions_under_replicated"));
        Assert.Equal(0, Value(metrics, "levee_partitions_offline"));
        foreach (var counter in new[] { "levee_isr_shrinks_total", "levee_isr_expands_total", "levee_leader_elections_total" })
        {
            Assert.Equal("counter", metrics.Types.GetValueOrDefault(counter));
            Assert.True(Value(metrics, counter) >= 0);
        }

        // Consumer lag, connections, headroom.
        Assert.Equal(15, Value(metrics, "levee_consumer_lag", ("group", "readers"), ("topic", "plain")));
        Assert.True(Value(metrics, "levee_connections_open") >= 1);
        Assert.Equal(50_000, Value(metrics, "levee_capacity_limit", ("broker", "1"), ("resource", "partitions")));
        var used = Value(metrics, "levee_capacity_used", ("broker", "1"), ("resource", "partitions"));
        Assert.True(used >= 52, $"partition replicas reserved: {used} (plain, acme.orders and 50 of __consumer_offsets)");
        var headroom = Value(metrics, "levee_capacity_headroom_ratio", ("broker", "1"), ("resource", "partitions"));
        Assert.Equal((50_000 - Value(metrics, "levee_capacity_worst", ("broker", "1"), ("resource", "partitions"))) / 50_000, headroom, 6);

        // GC and memory, from the runtime's own meter.
        Assert.True(metrics.Samples.Where(s => s.Name == "dotnet_gc_collections_total").Sum(s => s.Value) >= 1);
        Assert.True(Value(metrics, "dotnet_process_memory_working_set_bytes") > 10_000_000);
        // The admin API shows the same tenant against its plan.
        using var tenants = JsonDocument.Parse(await http.GetStringAsync("api/tenants"));
        var acme = Assert.Single(tenants.RootElement.EnumerateArray());
        Assert.Equal("acme", acme.GetProperty("name").GetString());
        Assert.Equal("basic-0", acme.GetProperty("plan").GetString());
        Assert.Equal(1, acme.GetProperty("topics").GetInt32());
        Assert.Equal(2048, acme.GetProperty("limits").GetProperty("producer_byte_rate").GetInt64());
        Assert.True(acme.GetProperty("usage").GetProperty("throttled_ms").GetInt64() > 0, acme.ToString());
        tenantProducer.Flush(TimeSpan.FromSeconds(1));
    }

    private static double Value((IReadOnlyList<PrometheusSample> Samples, IReadOnlyDictionary<string, string> Types) metrics, string name, params (string Name, string Value)[] labels)
    {
        var matching = metrics.Samples.Where(s => s.Name == name && s.Has(labels)).ToList();
        Assert.True(matching.Count == 1, $"{name}{{{string.Join(',', labels.Select(l => $"{l.Name}=\"{l.Value}\""))}}}: {matching.Count} series; {string.Join("; ", metrics.Samples.Where(s => s.Name == name).Select(s => string.Join(',', s.Labels) + " " + s.Value))}");
        return matching[0].Value;
    }

    /// <summary>Scrapes until <paramref name="done"/> holds (each scrape must parse), failing after the deadline.</summary>
    private static async Task<(IReadOnlyList<PrometheusSample> Samples, IReadOnlyDictionary<string, string> Types)> PollAsync(HttpClient http, Func<(IReadOnlyList<PrometheusSample> Samples, IReadOnlyDictionary<string, string> Types), bool> done)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            var text = await http.GetStringAsync("metrics");
            var metrics = PrometheusText.Parse(text);
            if (Holds(metrics))
            {
                return metrics;
            }

            Assert.True(DateTime.UtcNow < deadline, "the metrics never showed the load:\n" + text);
            await Task.Delay(250);
        }

        bool Holds((IReadOnlyList<PrometheusSample> Samples, IReadOnlyDictionary<string, string> Types) m)
        {
            try
            {
                return done(m);
            }
            catch (Xunit.Sdk.XunitException)
            {
                return false;
            }
        }
    }
}
