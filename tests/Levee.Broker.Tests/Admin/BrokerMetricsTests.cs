using Levee.Broker.Tests.Infrastructure;
using Levee.Protocol.Messages;

namespace Levee.Broker.Tests.Admin;

/// <summary>The one metric recorded on the request path costs no allocation, with the exporter listening.</summary>
public sealed class BrokerMetricsTests
{
    [Fact]
    public async Task RecordRequest_WithThePrometheusExporterListening_AllocatesNothing()
    {
        await using var broker = await TestBroker.StartAsync(o => o with { AdminListener = "127.0.0.1:0" });
        var metrics = broker.Broker.Metrics;
        var keys = new[] { ApiKey.Produce, ApiKey.Fetch, ApiKey.Metadata };
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        // The first measurement of each API creates its series; after that, recording is what every request pays.
        foreach (var key in keys)
        {
            metrics.RecordRequest(key, started);
        }

        const int Calls = 30_000;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Calls; i++)
        {
            metrics.RecordRequest(keys[i % keys.Length], started);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < Calls / 100, $"{allocated} bytes allocated by {Calls} recordings");

        using var http = new HttpClient { BaseAddress = broker.Broker.AdminAddress };
        var scrape = await http.GetStringAsync("metrics");
        Assert.Contains("levee_request_duration_seconds_count{otel_scope_name=\"Levee\",api=\"Fetch\"}", scrape, StringComparison.Ordinal);
    }
}
