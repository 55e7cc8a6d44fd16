using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>`levee serve --log-format json`: one JSON object per line, for log shippers.</summary>
public sealed class LogFormatTests
{
    [Fact]
    public async Task Serve_WithLogFormatJson_WritesOneParseableObjectPerLine_WithLevelCategoryEventNameAndMessage()
    {
        await using var levee = await LeveeProcess.StartAsync(null, null, "--log-format", "json");
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = levee.BootstrapServers, Acks = Acks.All }).Build())
        {
            // A topic created on first use logs more events than the start alone.
            await producer.ProduceAsync("json-logs", new Message<Null, string> { Value = "logged" });
        }

        Assert.Equal(0, await levee.TerminateAsync());
        var lines = levee.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length >= 5, levee.Output);
        var names = new List<string>();
        foreach (var line in lines)
        {
            using var entry = JsonDocument.Parse(line);
            var root = entry.RootElement;
            Assert.True(root.ValueKind == JsonValueKind.Object, line);
            Assert.Contains(root.GetProperty("LogLevel").GetString(), new[] { "Information", "Warning" });
            var category = root.GetProperty("Category").GetString()!;
            Assert.False(string.IsNullOrEmpty(root.GetProperty("Message").GetString()), line);
            Assert.True(DateTimeOffset.TryParse(root.GetProperty("Timestamp").GetString(), System.Globalization.CultureInfo.InvariantCulture, out _), line);

            // Every event of Levee's own has a name; the Raft library's have theirs when it gives one.
            if (category.StartsWith("Levee.", StringComparison.Ordinal) || root.GetProperty("State").TryGetProperty("EventName", out _))
            {
                var name = root.GetProperty("State").GetProperty("EventName").GetString();
                Assert.False(string.IsNullOrEmpty(name), line);
                names.Add($"{category}/{name}");
            }
            else
            {
                Assert.StartsWith("DotNext.", category, StringComparison.Ordinal);
            }
        }

        Assert.Contains("Levee.Broker/Ready", names);
        Assert.Contains("Levee.Cluster.Quorum.MetadataQuorum/LeaderChanged", names);
        var ready = lines.Single(l => l.Contains("\"Ready\"", StringComparison.Ordinal));
        Assert.Contains(" ready: Kafka listener on 127.0.0.1:" + levee.Port, JsonDocument.Parse(ready).RootElement.GetProperty("Message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_ByDefault_WritesOneLinePerEntry_WithTheEventsNameWhereTheSimpleFormatHasItsNumber()
    {
        await using var levee = await LeveeProcess.StartAsync();
        Assert.Equal(0, await levee.TerminateAsync());
        var lines = levee.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info: Levee\.Broker\[Ready\] Levee broker 1 ready: Kafka listener on "));
        Assert.Contains(lines, l => l.Contains("info: Levee.Cluster.Quorum.MetadataQuorum[LeaderChanged] Metadata quorum node 1: leader is 1", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.Matches(@"^\S+ \S+ (info|warn): [\w.]+\[[A-Za-z][\w.]*\] ", l));
    }

    [Fact]
    public async Task Serve_WithAnotherLogFormat_IsRefused()
    {
        var result = await Tool.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "levee.dll"), "serve", "--log-format", "xml"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--log-format must be text or json, not 'xml'.", result.StdErr, StringComparison.Ordinal);
    }
}
