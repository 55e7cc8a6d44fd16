using System.Text.Json;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>`levee bench e2e` (Confluent.Kafka producer and consumer) against a started `levee serve`.</summary>
public sealed class BenchCliTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync();

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task E2e_ReceivesEveryRecordItSent_AndReportsTheP99OfEachMeasuredSecond()
    {
        var json = Path.Combine(Path.GetTempPath(), "levee-bench-" + Guid.NewGuid().ToString("N") + ".json");
        try
        {
            // 4,000 records at 1,000/s: about 4 s, of which the last 2 are measured (the first 2 are warm-up).
            var levee = Path.Combine(AppContext.BaseDirectory, "levee.dll");
            var run = await Tool.RunAsync("dotnet", [levee, "bench", "e2e", "--bootstrap", _levee.BootstrapServers, "--topic", "bench-e2e",
                "--records", "4000", "--rate", "1000", "--size", "100", "--partitions", "1", "--linger-ms", "0", "--no-progress",
                "--timeout-s", "60", "--json", json], timeout: TimeSpan.FromSeconds(90));
            Assert.True(run.ExitCode == 0, run.StdErr + run.StdOut);

            using var result = JsonDocument.Parse(await File.ReadAllTextAsync(json));
            var root = result.RootElement;
            Assert.True(root.GetProperty("completed").GetBoolean(), root.ToString());
            Assert.Equal(4000, root.GetProperty("records").GetInt64());
            Assert.Equal(0, root.GetProperty("errors").GetInt64());
            Assert.True(root.GetProperty("client_gc_pause_ms").GetDouble() >= 0);
            var bySecond = root.GetProperty("p99_ms_by_second").EnumerateArray().Select(e => e.GetDouble()).ToList();
            Assert.NotEmpty(bySecond);
            Assert.All(bySecond, p99 => Assert.True(p99 > 0 && p99 <= root.GetProperty("max_ms").GetDouble(), root.ToString()));
        }
        finally
        {
            File.Delete(json);
        }
    }
}
