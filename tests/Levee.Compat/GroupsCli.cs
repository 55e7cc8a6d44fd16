using System.Globalization;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>Runs `levee groups ...` (the levee.dll beside the tests) and reads the tables it prints.</summary>
public static class GroupsCli
{
    /// <summary>One row of the offsets table of `levee groups describe`.</summary>
    public sealed record OffsetRow(string Topic, int Partition, long? Current, long? LogEnd, long? Lag, string ConsumerId);

    public static Task<Tool.Result> RunAsync(string bootstrap, params string[] args)
    {
        var levee = Path.Combine(AppContext.BaseDirectory, "levee.dll");
        return Tool.RunAsync("dotnet", [levee, "groups", .. args, "--bootstrap", bootstrap], timeout: TimeSpan.FromSeconds(90));
    }

    /// <summary>Runs describe and returns its offsets table, failing the test when the command fails.</summary>
    public static async Task<(string Output, IReadOnlyList<OffsetRow> Rows)> DescribeAsync(string bootstrap, string group)
    {
        var result = await RunAsync(bootstrap, "describe", group);
        Assert.True(result.ExitCode == 0, $"levee groups describe {group} failed ({result.ExitCode}): {result.StdErr}{result.StdOut}");
        return (result.StdOut, ParseOffsets(result.StdOut));
    }

    /// <summary>
    /// Asks describe until every partition of the group's topic shows lag 0 and the expected total committed
    /// offset (the group's commits may land a moment after the client says it is done).
    /// </summary>
    public static async Task<IReadOnlyList<OffsetRow>> AssertLagZeroAsync(string bootstrap, string group, string topic, int partitions, long records)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var (output, rows) = await DescribeAsync(bootstrap, group);
            var mine = rows.Where(r => r.Topic == topic).ToList();
            var ok = mine.Count == partitions && mine.All(r => r.Lag == 0 && r.Current == r.LogEnd) && mine.Sum(r => r.LogEnd ?? 0) == records
                && output.Contains("total lag 0", StringComparison.Ordinal);
            if (ok)
            {
                return mine;
            }

            Assert.True(DateTime.UtcNow < deadline, $"group {group} did not reach lag 0 on {topic} ({partitions} partitions, {records} records):\n{output}");
            await Task.Delay(500);
        }
    }

    /// <summary>Rows of the 8-column offsets table (TOPIC, PARTITION, CURRENT-OFFSET, LOG-END-OFFSET, LAG, CONSUMER-ID, HOST, CLIENT-ID).</summary>
    public static IReadOnlyList<OffsetRow> ParseOffsets(string output)
    {
        var rows = new List<OffsetRow>();
        foreach (var line in output.Split('\n'))
        {
            var cells = line.Split('│', StringSplitOptions.TrimEntries);
            // A table line is "│ a │ b │ ... │": empty first and last pieces around the cells.
            if (cells.Length != 10 || !int.TryParse(cells[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var partition))
            {
                continue;
            }

            rows.Add(new OffsetRow(cells[1], partition, Number(cells[3]), Number(cells[4]), Number(cells[5]), cells[6]));
        }

        return rows;
    }

    /// <summary>The tests/Levee.Compat/js folder of the source tree (kafkajs scripts and node_modules from `npm ci`).</summary>
    public static string JsDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Levee.Compat", "js");
            if (File.Exists(Path.Combine(candidate, "package.json")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("tests/Levee.Compat/js not found above " + AppContext.BaseDirectory);
    }

    private static long? Number(string cell) => long.TryParse(cell, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;
}
