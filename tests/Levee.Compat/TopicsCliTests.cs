using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>
/// `levee topics tail|write|config|delete` and `levee info`, the real binary against a real `levee serve`, checked
/// with Confluent.Kafka where another client should agree.
/// </summary>
public sealed class TopicsCliTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync();

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    public static string LeveeDll => Path.Combine(AppContext.BaseDirectory, "levee.dll");

    [Fact]
    public async Task Tail_PrintsTheRecordsWriteWrites_AsTheyArrive_AndExitsCleanlyOnCtrlC()
    {
        await RunOkAsync(["topics", "create", "tailed", "--partitions", "3", .. Operator]);
        await using var tail = RunningTool.Start("dotnet", [LeveeDll, "topics", "tail", "tailed", "--print-key", .. Operator]);
        await tail.WaitUntilAsync("the tail's ready line", t => t.StdErr.Contains("Tailing tailed (3 partition(s)) from the end", StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        var written = await RunOkAsync(["topics", "write", "tailed", "--keyed", .. Operator], "k1:one\nk2:two\nk3:three\n");
        Assert.Contains("Wrote 3 of 3 record(s) to tailed.", written.StdErr, StringComparison.Ordinal);
        await tail.WaitUntilAsync("the three records", t => Lines(t.StdOut).Count == 3, TimeSpan.FromSeconds(30));
        Assert.Equal(["k1:one", "k2:two", "k3:three"], Lines(tail.StdOut).Order(StringComparer.Ordinal));

        // Ctrl-C: the consumer is closed and the command exits 0.
        Assert.Equal(0, await tail.InterruptAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("Stopped after 3 record(s).", tail.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Write_FromStdin_IsReadBackByAConfluentConsumer_WithKeysAndInOrder()
    {
        await RunOkAsync(["topics", "create", "written", "--partitions", "1", .. Operator]);
        var lines = Enumerable.Range(0, 200).Select(i => $"key-{i % 7}|value {i}").ToList();
        await RunOkAsync(["topics", "write", "written", "--keyed", "--key-separator", "|", .. Operator], string.Join('\n', lines) + "\n");

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = _levee.BootstrapServers, GroupId = "written-reader", AutoOffsetReset = AutoOffsetReset.Earliest }).Build();
        consumer.Subscribe("written");
        var read = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (read.Count < lines.Count && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromSeconds(1)) is { IsPartitionEOF: false } record)
            {
                read.Add($"{record.Message.Key}|{record.Message.Value}");
            }
        }

        consumer.Close();
        Assert.Equal(lines, read);
    }

    [Fact]
    public async Task Write_RefusesALineWithoutTheKeySeparator()
    {
        var refused = await RunAsync(["topics", "write", "unkeyed", "--keyed", .. Operator], "no separator here\n");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("Line 1 has no key separator ':'", refused.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_SetsRemovesAndDescribes_AsAnotherClientSeesThem()
    {
        await RunOkAsync(["topics", "create", "configured", "--partitions", "1", .. Operator]);
        var changed = await RunOkAsync(["topics", "config", "configured", "retention.ms=3600000", "max.message.bytes=65536", .. Operator]);
        Assert.Contains("Changed 2 config(s) of topic configured", changed.StdOut, StringComparison.Ordinal);

        Assert.Equal(new Dictionary<string, string> { ["max.message.bytes"] = "65536", ["retention.ms"] = "3600000" }, await DescribedAsync("configured"));
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _levee.BootstrapServers }).Build();
        var seen = await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Topic, Name = "configured" }]);
        Assert.Equal("3600000", seen.Single().Entries["retention.ms"].Value);

        await RunOkAsync(["topics", "config", "configured", "--delete", "retention.ms", .. Operator]);
        Assert.Equal(new Dictionary<string, string> { ["max.message.bytes"] = "65536" }, await DescribedAsync("configured"));

        var all = await RunOkAsync(["topics", "config", "configured", "--all", "--json", .. Operator]);
        using var allJson = JsonDocument.Parse(all.StdOut);
        var retention = allJson.RootElement.GetProperty("configs").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "retention.ms");
        Assert.Equal("DefaultConfig", retention.GetProperty("source").GetString());

        var bad = await RunAsync(["topics", "config", "configured", "retention.ms=soon", .. Operator]);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("InvalidConfig", bad.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_RemovesTheTopic()
    {
        await RunOkAsync(["topics", "create", "doomed", "--partitions", "2", .. Operator]);
        await RunOkAsync(["topics", "create", "kept", "--partitions", "1", .. Operator]);
        var deleted = await RunOkAsync(["topics", "delete", "doomed", .. Operator]);
        Assert.Contains("Deleted topic doomed.", deleted.StdOut, StringComparison.Ordinal);

        var listed = await RunOkAsync(["topics", "list", "--json", .. Operator]);
        using var json = JsonDocument.Parse(listed.StdOut);
        var names = json.RootElement.GetProperty("topics").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        Assert.Contains("kept", names);
        Assert.DoesNotContain("doomed", names);

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _levee.BootstrapServers }).Build();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "doomed");

        var again = await RunAsync(["topics", "delete", "doomed", .. Operator]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("UnknownTopicOrPart", again.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Info_Json_HasEveryField_WithRatesFromTwoSamplesWhileAProducerAndAGroupRun()
    {
        await RunOkAsync(["topics", "create", "busy", "--partitions", "2", .. Operator]);
        using var stop = new CancellationTokenSource();
        var producing = Task.Run(async () =>
        {
            using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = _levee.BootstrapServers, LingerMs = 5 }).Build();
            while (!stop.IsCancellationRequested)
            {
                await producer.ProduceAsync("busy", new Message<Null, string> { Value = new string('x', 100) });
            }
        });

        // A group reads along, committing every 100 ms: what bytes out/s is estimated from.
        var consumed = 0L;
        var consuming = Task.Run(() =>
        {
            using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig { BootstrapServers = _levee.BootstrapServers, GroupId = "busy-readers", AutoOffsetReset = AutoOffsetReset.Earliest, AutoCommitIntervalMs = 100 }).Build();
            consumer.Subscribe("busy");
            while (!stop.IsCancellationRequested)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false })
                {
                    Interlocked.Increment(ref consumed);
                }
            }

            consumer.Close();
        });

        Tool.Result info;
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Interlocked.Read(ref consumed) < 100 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }

            Assert.True(Interlocked.Read(ref consumed) >= 100, "the group read nothing in 60 s");
            info = await RunOkAsync(["info", "--json", "--sample-s", "2", .. Operator]);
        }
        finally
        {
            await stop.CancelAsync();
            await producing;
            await consuming;
        }

        using var json = JsonDocument.Parse(info.StdOut);
        var root = json.RootElement;
        Assert.Equal(
            ["version", "cluster_id", "status", "controller", "brokers", "topics", "partitions", "under_replicated_partitions", "offline_partitions", "messages_per_sec", "bytes_in_per_sec", "bytes_out_per_sec", "data_bytes", "data_limit_bytes", "sample_seconds"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.False(string.IsNullOrEmpty(root.GetProperty("version").GetString()));
        Assert.Equal("ok", root.GetProperty("status").GetString());
        Assert.Equal(1, root.GetProperty("controller").GetInt32());
        Assert.Equal(_levee.Port, root.GetProperty("brokers").EnumerateArray().Single().GetProperty("port").GetInt32());
        Assert.Equal(1, root.GetProperty("topics").GetInt32());
        Assert.Equal(2, root.GetProperty("partitions").GetInt32());
        Assert.True(root.GetProperty("messages_per_sec").GetDouble() > 0, info.StdOut);
        Assert.True(root.GetProperty("bytes_in_per_sec").GetDouble() > 0, info.StdOut);
        Assert.True(root.GetProperty("bytes_out_per_sec").GetDouble() > 0, info.StdOut);
        Assert.True(root.GetProperty("data_bytes").GetInt64() > 0, info.StdOut);
        Assert.True(root.GetProperty("data_limit_bytes").GetInt64() > root.GetProperty("data_bytes").GetInt64(), info.StdOut);
        Assert.True(root.GetProperty("sample_seconds").GetDouble() >= 2, info.StdOut);
    }

    private string[] Operator => ["--bootstrap", _levee.BootstrapServers];

    private static List<string> Lines(string text) => [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private async Task<Dictionary<string, string>> DescribedAsync(string topic)
    {
        var described = await RunOkAsync(["topics", "config", topic, "--json", .. Operator]);
        using var json = JsonDocument.Parse(described.StdOut);
        return json.RootElement.GetProperty("configs").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("value").GetString()!);
    }

    private static async Task<Tool.Result> RunOkAsync(string[] args, string? stdin = null)
    {
        var result = await RunAsync(args, stdin);
        Assert.True(result.ExitCode == 0, $"levee {string.Join(' ', args)} failed ({result.ExitCode}): {result.StdErr}{result.StdOut}");
        return result;
    }

    private static Task<Tool.Result> RunAsync(string[] args, string? stdin = null) =>
        Tool.RunAsync("dotnet", [LeveeDll, .. args], stdin, TimeSpan.FromSeconds(120));
}
