using System.Text;
using Levee.Compat.Infrastructure;

namespace Levee.Compat;

public sealed class KcatTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() => _levee = await LeveeProcess.StartAsync();

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task KcatList_ShowsTheBrokerAndTopics()
    {
        var produce = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-P", "-t", "listed"], stdin: "one\n");
        Assert.Equal(0, produce.ExitCode);

        var list = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-L"]);
        Assert.Equal(0, list.ExitCode);
        Assert.Contains($"broker 1 at 127.0.0.1:{_levee.Port} (controller)", list.StdOut, StringComparison.Ordinal);
        Assert.Contains("topic \"listed\" with 1 partitions", list.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KcatProduceThenConsume_10000KeyedRecords_RoundTrip()
    {
        var input = new StringBuilder();
        for (var i = 0; i < 10_000; i++)
        {
            input.Append("key-").Append(i).Append(':').Append("value-").Append(i).Append('-').Append(new string('x', i % 50)).Append('\n');
        }

        var produce = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-P", "-t", "kcat-keyed", "-K:"], stdin: input.ToString());
        Assert.True(produce.ExitCode == 0, produce.StdErr);

        var consume = await Tool.RunAsync("kcat", ["-b", _levee.BootstrapServers, "-C", "-t", "kcat-keyed", "-o", "beginning", "-e", "-f", "%o %k:%s\n"]);
        Assert.True(consume.ExitCode == 0, consume.StdErr);
        var lines = consume.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(10_000, lines.Length);
        var expected = input.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < lines.Length; i++)
        {
            Assert.Equal($"{i} {expected[i]}", lines[i]);
        }
    }
}
