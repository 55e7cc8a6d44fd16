using System.Text.Json;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>Issue 14: `levee simulate` as a user runs it, on a small fleet: the report's fields and the plots.</summary>
public sealed class SimulateCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("levee-simulate-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ASmallFleet_WritesOneObjectPerPolicy_WithTheRunsTimeAndMemory_AndPngPlots()
    {
        var json = Path.Combine(_dir, "simulation.json");
        var plots = Path.Combine(_dir, "plots");
        var run = await LeveeCli.RunAsync("simulate", "--brokers", "12", "--racks", "3", "--tenants", "80", "--partitions", "1200", "--days", "3", "--seed", "5", "--failures", "10", "--json", json, "--plots", plots);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        Assert.Contains("levee-guard", run.StdOut, StringComparison.Ordinal);

        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var policies = report.RootElement.GetProperty("policies").EnumerateArray().ToList();
        Assert.Equal(["kafka-striped", "levee-placement", "levee-guard", "levee-guard-unthrottled"], policies.Select(p => p.GetProperty("name").GetString()));
        foreach (var policy in policies)
        {
            Assert.InRange(policy.GetProperty("cascade_probability").GetDouble(), 0, 1);
            Assert.True(policy.GetProperty("mean_brokers_lost").GetDouble() >= 0);
            Assert.True(policy.GetProperty("partition_hours_unavailable").GetDouble() >= 0);
            Assert.True(policy.GetProperty("utilisation").GetDouble() > 0);
        }

        Assert.True(report.RootElement.GetProperty("elapsed_s").GetDouble() > 0);
        Assert.True(report.RootElement.GetProperty("peak_memory_bytes").GetInt64() > 0);

        // PNG files, by their signature, and the table.
        foreach (var name in new[] { "cascades.png", "unavailable.png", "peak-load.png", "sold.png" })
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(plots, name));
            Assert.Equal<byte>([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        }

        Assert.StartsWith("| policy |", await File.ReadAllTextAsync(Path.Combine(plots, "table.md")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OptionsNoFleetCanBeMadeOf_AreRefusedWithExitCode2()
    {
        var run = await LeveeCli.RunAsync("simulate", "--brokers", "2");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("at least 4 brokers", run.StdErr, StringComparison.Ordinal);
    }
}
