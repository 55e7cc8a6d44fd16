using System.Collections.Immutable;
using System.Text.Json;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Cluster.Simulation;
using Levee.Compat.Infrastructure;
using Xunit.Abstractions;

namespace Levee.Compat;

/// <summary>
/// Issue 14: the fleet simulator and the live controller agree. On a real 5-broker cluster, the loads the simulator
/// predicts each survivor carries once a broker has failed and its leaderships have moved are what a `levee fail` drill
/// measures on that survivor (its capacity model's reserved load at the peak of the drill).
/// </summary>
public sealed class SimulationDrillTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Partitions = 10;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-simulation-drill-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync() => LeveeCli.UpForDrillsAsync(_dir, 5);

    public Task DisposeAsync() => LeveeCli.DownAndDeleteAsync(_dir);

    [Fact]
    public async Task TheSimulatorsFailover_PredictsWhatADrillMeasuresOnEverySurvivor_WithinTheDrillsRounding()
    {
        // A tenant on basic-0 with one topic: each partition's leader reserves its share of the plan's bytes out and
        // connections, which move with leadership when a broker fails.
        using var file = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "cluster.json")));
        var bootstrap = file.RootElement.GetProperty("bootstrap_servers").GetString()!;
        var tenant = await LeveeCli.RunAsync("tenants", "create", "acme", "--plan", "basic-0", "--bootstrap", bootstrap);
        Assert.True(tenant.ExitCode == 0, tenant.StdOut + tenant.StdErr);
        var topic = await LeveeCli.RunAsync("topics", "create", "acme.orders", "--partitions", $"{Partitions}", "--replication-factor", "3", "--dir", _dir);
        Assert.True(topic.ExitCode == 0, topic.StdOut + topic.StdErr);

        // The placement the controller chose, every partition led by its preferred replica with its full ISR.
        var described = await LeveeCli.RunAsync("topics", "describe", "acme.orders", "--json", "--dir", _dir);
        Assert.True(described.ExitCode == 0, described.StdErr);
        using var placement = JsonDocument.Parse(described.StdOut);
        var partitions = placement.RootElement.GetProperty("partitions").EnumerateArray()
            .Select(p => (Leader: p.GetProperty("leader").GetInt32(), Replicas: p.GetProperty("replicas").EnumerateArray().Select(r => r.GetInt32()).ToImmutableArray(), Isr: p.GetProperty("isr").GetArrayLength()))
            .ToList();
        Assert.Equal(Partitions, partitions.Count);
        Assert.All(partitions, p => Assert.True(p.Leader == p.Replicas[0] && p.Isr == 3, $"leader {p.Leader} of [{string.Join(',', p.Replicas)}], ISR of {p.Isr}"));

        // The simulator's fleet of that cluster: one tenant on basic-0 with these partitions. The victim leads most.
        var plan = Plan.BuiltIn["basic-0"];
        var acme = new SimulatedTenant("acme", plan, Partitions, 0, 1, 1, CapacityModel.Share(plan, Partitions));
        var brokers = Enumerable.Range(1, 5).Select(id => new LedgerBroker(id, null, BrokerCapacity.Unbounded)).ToList();
        var workload = Workload.Of(new SimulationOptions(Brokers: 5, Racks: 1, Tenants: 1, Partitions: Partitions), brokers, [acme], 3);
        var fleet = Fleet.Of(workload, [.. partitions.Select(p => (0, p.Replicas))]);
        var victim = partitions.GroupBy(p => p.Leader).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        var predicted = new ScenarioRun(fleet, SimulationPolicy.All[2], new FailureScenario(FailureKind.Broker, 30, [victim - 1], [1]), new Demand(2, 1), 0.2).Failover();

        var json = Path.Combine(_dir, "drill.json");
        var drill = await LeveeCli.RunAsync("fail", "--broker", $"{victim}", "--kill", "--restart-after", "4", "--duration", "8", "--dir", _dir, "--json", json);
        output.WriteLine(drill.StdOut);
        Assert.True(drill.ExitCode == 0, drill.StdOut + drill.StdErr);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));

        // The drill reads each survivor's reserved load rounded to whole units: the prediction must round to it.
        var survivors = report.RootElement.GetProperty("survivors").EnumerateArray().ToList();
        Assert.Equal(4, survivors.Count);
        foreach (var survivor in survivors)
        {
            var id = survivor.GetProperty("id").GetInt32();
            foreach (var resource in new[] { CapacityResource.BytesOutPerSec, CapacityResource.Connections })
            {
                var measured = survivor.GetProperty("peak").GetProperty(BrokerCapacity.Name(resource)).GetInt64();
                var expected = predicted[id - 1][(int)resource];
                output.WriteLine($"broker {id} {BrokerCapacity.Name(resource)}: predicted {expected:0.##}, drill {measured}");
                Assert.InRange(measured, (long)Math.Round(expected) - 1, (long)Math.Round(expected) + 1);
            }
        }

        // The failover moved load: some survivor was predicted, and measured, above what it reserved before.
        Assert.Contains(survivors, s =>
        {
            var b = s.GetProperty("id").GetInt32() - 1;
            return predicted[b][(int)CapacityResource.BytesOutPerSec] > fleet.Reserved[(b * 5) + (int)CapacityResource.BytesOutPerSec] + 1;
        });
    }
}
