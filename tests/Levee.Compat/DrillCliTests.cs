using System.Text.Json;
using Levee.Compat.Infrastructure;
using Xunit.Abstractions;

namespace Levee.Compat;

/// <summary>Issue 12's drills: `levee fail` kills or pauses a broker of a real three-process cluster under its probe.</summary>
public sealed class DrillCliTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-drill-cli-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync() => LeveeCli.UpForDrillsAsync(_dir, 3);

    public Task DisposeAsync() => LeveeCli.DownAndDeleteAsync(_dir);

    [Fact]
    public async Task KillingABroker_ThenRestartingIt_AndPausingAnother_LoseNoProbeRecord_AndEveryPartitionRecovers()
    {
        var kill = await DrillAsync("--broker", "2", "--kill", "--restart-after", "4", "--duration", "10");
        // Longer than the session timeout, and than a quorum election if the paused broker was the controller.
        var pause = await DrillAsync("--broker", "3", "--pause", "10", "--duration", "14");

        foreach (var (report, name) in new[] { (kill, "kill"), (pause, "pause") })
        {
            var root = report.RootElement;
            Assert.Equal(name, root.GetProperty("fault").GetString());

            // Every partition had a live leader again well within the drill (session timeout 3 s).
            Assert.InRange(root.GetProperty("recovered_s").GetDouble(), 0, 10);

            // Every partition back to its full ISR within the drill: after a 10 s pause this once failed in 2 of 5 runs
            // (a follower holding an uncommitted record of an epoch the new leader never had got no diverging-epoch
            // answer and stalled behind it; docs/cascades.md).
            Assert.True(root.GetProperty("full_isr_s").ValueKind == JsonValueKind.Number, $"{name}: still under-replicated: {root.GetProperty("still_under_replicated")}");

            Assert.True(root.GetProperty("elections").GetInt32() >= root.GetProperty("led").GetInt32(), "each partition the broker led needed an election");

            // acks=all with an idempotent producer: nothing the probe sent failed, and it kept being acknowledged.
            Assert.Equal(0, root.GetProperty("probe_errors").GetInt64());
            var probe = root.GetProperty("probe");
            Assert.Equal(probe.GetProperty("sent").GetInt64(), probe.GetProperty("acknowledged").GetInt64());

            // Each survivor stayed within every limit of its capacity model.
            var survivors = root.GetProperty("survivors").EnumerateArray().ToList();
            Assert.Equal(2, survivors.Count);
            foreach (var survivor in survivors)
            {
                var limits = survivor.GetProperty("limit");
                foreach (var peak in survivor.GetProperty("peak").EnumerateObject())
                {
                    Assert.InRange(peak.Value.GetInt64(), 0, limits.GetProperty(peak.Name).GetInt64());
                }

                Assert.True(survivor.GetProperty("peak").GetProperty("partitions").GetInt64() > 0);
            }
        }
    }

    private async Task<JsonDocument> DrillAsync(params string[] args)
    {
        var json = Path.Combine(_dir, "drill-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        var run = await LeveeCli.RunAsync(["fail", .. args, "--dir", _dir, "--json", json]);
        output.WriteLine(run.StdOut);
        if (run.ExitCode != 0)
        {
            Assert.Fail(run.StdOut + run.StdErr + LogTails());
        }

        return JsonDocument.Parse(await File.ReadAllTextAsync(json));
    }

    // Each broker's last lines: the cluster's directory (and its logs) is gone once the test ends.
    private string LogTails() => string.Concat(Directory.GetFiles(_dir, "node-*.log").Order(StringComparer.Ordinal).Select(log =>
        $"{Environment.NewLine}--- {Path.GetFileName(log)}:{Environment.NewLine}{string.Join(Environment.NewLine, File.ReadLines(log).TakeLast(25))}"));
}
