using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>`levee cluster up/status/down` and `levee topics` driving a real three-process cluster.</summary>
public sealed class ClusterCliTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "levee-cluster-cli-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // Whatever the test did, leave no broker behind.
        if (File.Exists(Path.Combine(_dir, "cluster.json")))
        {
            foreach (var pid in Pids())
            {
                try
                {
                    using var process = System.Diagnostics.Process.GetProcessById(pid);
                    process.Kill();
                }
                catch (ArgumentException)
                {
                    // Gone already.
                }
            }
        }

        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    [Fact]
    public async Task UpStatusTopicsProduceConsumeDown()
    {
        var up = await LeveeAsync("cluster", "up", "--brokers", "3", "--dir", _dir, "--base-port", "0", "--timeout-s", "90");
        Assert.True(up.ExitCode == 0, up.StdOut + up.StdErr);
        var bootstrap = up.StdOut.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("Bootstrap servers: ", StringComparison.Ordinal))["Bootstrap servers: ".Length..];
        Assert.Equal(3, bootstrap.Split(',').Length);
        var pids = Pids();
        Assert.Equal(3, pids.Count);
        Assert.All(pids, pid => Assert.True(IsAlive(pid), $"pid {pid} not running after cluster up"));

        var create = await LeveeAsync("topics", "create", "cli-rf3", "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2", "--dir", _dir);
        Assert.True(create.ExitCode == 0, create.StdOut + create.StdErr);

        var describe = await LeveeAsync("topics", "describe", "cli-rf3", "--dir", _dir);
        Assert.True(describe.ExitCode == 0, describe.StdOut + describe.StdErr);
        Assert.Equal(3, describe.StdOut.Split('\n').Count(l => l.Contains("cli-rf3", StringComparison.Ordinal)));

        var list = await LeveeAsync("topics", "list", "--dir", _dir);
        Assert.Contains("cli-rf3", list.StdOut, StringComparison.Ordinal);

        // A new topic starts with its full ISR; wait on the condition, with a deadline, rather than assume it.
        var status = await UntilAsync(
            () => LeveeAsync("cluster", "status", "--dir", _dir),
            s => s.ExitCode == 0 && s.StdOut.Contains("under-replicated: 0, offline: 0", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30));
        Assert.Contains("Brokers alive: 3 of 3", status.StdOut, StringComparison.Ordinal);
        Assert.Contains("Controller: ", status.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("Controller: none", status.StdOut, StringComparison.Ordinal);
        Assert.Contains("Partitions: 3, under-replicated: 0, offline: 0", status.StdOut, StringComparison.Ordinal);

        const int count = 300;
        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap, Acks = Acks.All, EnableIdempotence = true, LingerMs = 5 }).Build())
        {
            for (var i = 0; i < count; i++)
            {
                producer.Produce("cli-rf3", new Message<string, string> { Key = "k" + (i % 7).ToString(CultureInfo.InvariantCulture), Value = "v" + i.ToString(CultureInfo.InvariantCulture) });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        using (var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "cli-test",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).Build())
        {
            // Assigned partitions, not a subscription: this checks the data path through the printed
            // bootstrap servers, not the group coordinator (tested on its own).
            consumer.Assign(Enumerable.Range(0, 3).Select(p => new TopicPartitionOffset("cli-rf3", p, Offset.Beginning)));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (seen.Count < count && DateTime.UtcNow < deadline)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(500));
                if (result?.Message is { } message)
                {
                    Assert.True(seen.Add(message.Value), $"{message.Value} read twice");
                }
            }

            consumer.Close();
        }

        Assert.Equal(count, seen.Count);
        await TenantUsageIsSummedOverTheBrokersAsync(bootstrap);

        var down = await LeveeAsync("cluster", "down", "--dir", _dir);
        Assert.True(down.ExitCode == 0, down.StdOut + down.StdErr);
        Assert.False(File.Exists(Path.Combine(_dir, "cluster.json")));
        Assert.All(pids, pid => Assert.False(IsAlive(pid), $"pid {pid} still running after cluster down"));
        Assert.Equal(3, down.StdOut.Split('\n').Count(l => l.Contains("stopped.", StringComparison.Ordinal)));
    }

    /// <summary>
    /// A tenant's usage across the cluster: each broker measures the storage of the tenant's partitions it leads, and
    /// `levee tenants describe` asks every broker and sums their parts (shown one by one with --per-broker).
    /// </summary>
    private async Task TenantUsageIsSummedOverTheBrokersAsync(string bootstrap)
    {
        var tenant = await LeveeAsync("tenants", "create", "acme", "--plan", "basic-0", "--bootstrap", bootstrap);
        Assert.True(tenant.ExitCode == 0, tenant.StdOut + tenant.StdErr);
        var topic = await LeveeAsync("topics", "create", "acme.orders", "--partitions", "3", "--replication-factor", "1", "--dir", _dir);
        Assert.True(topic.ExitCode == 0, topic.StdOut + topic.StdErr);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap, Acks = Acks.All }).Build())
        {
            for (var i = 0; i < 300; i++)
            {
                producer.Produce(new TopicPartition("acme.orders", i % 3), new Message<Null, string> { Value = new string('x', 1000) });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }

        static Dictionary<string, string?> Usage(Tool.Result r) => JsonSerializer.Deserialize<Dictionary<string, string?>>(r.StdOut)!;
        static double Number(Dictionary<string, string?> usage, string key) => double.Parse(usage[key]!, CultureInfo.InvariantCulture);
        var described = await UntilAsync(
            () => LeveeAsync("tenants", "describe", "acme", "--json", "--per-broker", "--bootstrap", bootstrap),
            r => r.ExitCode == 0 && Usage(r).Count(u => u.Key.EndsWith(".usage.storage_bytes", StringComparison.Ordinal) && double.Parse(u.Value!, CultureInfo.InvariantCulture) > 0) >= 2,
            TimeSpan.FromSeconds(30));
        var usage = Usage(described);
        Assert.Equal("3", usage["usage.brokers"]);
        var parts = Enumerable.Range(1, 3).Select(id => Number(usage, $"broker.{id}.usage.storage_bytes")).ToList();
        Assert.Equal(parts.Sum(), Number(usage, "usage.storage_bytes"));
        Assert.True(Number(usage, "usage.storage_bytes") >= 300_000, $"{usage["usage.storage_bytes"]} bytes stored for 300 KB of values");
    }

    [Fact]
    public async Task UpWithLogFormatJson_GivesEveryBrokerAJsonLog()
    {
        var up = await LeveeAsync("cluster", "up", "--brokers", "1", "--dir", _dir, "--base-port", "0", "--log-format", "json", "--timeout-s", "90");
        Assert.True(up.ExitCode == 0, up.StdOut + up.StdErr);
        var down = await LeveeAsync("cluster", "down", "--dir", _dir);
        Assert.True(down.ExitCode == 0, down.StdOut + down.StdErr);

        var lines = (await File.ReadAllLinesAsync(Path.Combine(_dir, "node-1.log"))).Where(l => l.Length > 0).ToList();
        var names = lines.Select(l =>
        {
            using var entry = JsonDocument.Parse(l);
            return entry.RootElement.GetProperty("State").TryGetProperty("EventName", out var name) ? name.GetString() : null;
        }).ToList();
        Assert.Contains("Ready", names);
    }

    private static Task<Tool.Result> LeveeAsync(params string[] args) =>
        Tool.RunAsync("dotnet", new[] { Path.Combine(AppContext.BaseDirectory, "levee.dll") }.Concat(args), timeout: TimeSpan.FromSeconds(150));

    private static async Task<Tool.Result> UntilAsync(Func<Task<Tool.Result>> run, Func<Tool.Result, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var result = await run();
            if (done(result) || DateTime.UtcNow >= deadline)
            {
                return result;
            }
        }
    }

    private List<int> Pids()
    {
        var path = Path.Combine(_dir, "cluster.json");
        if (!File.Exists(path))
        {
            return [];
        }

        using var json = JsonDocument.Parse(File.ReadAllText(path));
        return json.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("pid").GetInt32()).ToList();
    }

    // A zombie (exited, not yet reaped by init) counts as gone.
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }
}
