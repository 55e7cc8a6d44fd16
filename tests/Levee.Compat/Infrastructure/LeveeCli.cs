namespace Levee.Compat.Infrastructure;

/// <summary>The `levee` executable beside the tests, run as a command, and the local clusters it starts.</summary>
public static class LeveeCli
{
    /// <summary>Runs `levee ARGS` (at most 240 s).</summary>
    public static Task<Tool.Result> RunAsync(params string[] args) =>
        Tool.RunAsync("dotnet", new[] { Path.Combine(AppContext.BaseDirectory, "levee.dll") }.Concat(args), timeout: TimeSpan.FromSeconds(240));

    /// <summary>
    /// Starts a local cluster of <paramref name="brokers"/> in <paramref name="dir"/> for drills: free ports, a 3 s
    /// session timeout (so a failed broker is fenced quickly) and preferred leaders checked every second.
    /// </summary>
    public static async Task UpForDrillsAsync(string dir, int brokers)
    {
        var up = await RunAsync(
            "cluster", "up", "--brokers", brokers.ToString(System.Globalization.CultureInfo.InvariantCulture), "--dir", dir, "--base-port", "0", "--timeout-s", "90",
            "--set", "broker.session.timeout.ms=3000", "--set", "broker.heartbeat.interval.ms=500", "--set", "leader.imbalance.check.interval.seconds=1");
        Assert.True(up.ExitCode == 0, up.StdOut + up.StdErr);
    }

    /// <summary>Stops the cluster `levee cluster up` started from <paramref name="dir"/> and deletes the directory.</summary>
    public static async Task DownAndDeleteAsync(string dir)
    {
        await RunAsync("cluster", "down", "--dir", dir, "--timeout-s", "30");
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
