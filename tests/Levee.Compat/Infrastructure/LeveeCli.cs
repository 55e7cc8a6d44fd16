namespace Levee.Compat.Infrastructure;

/// <summary>The `levee` executable beside the tests, run as a command, and the local clusters it starts.</summary>
public static class LeveeCli
{
    /// <summary>Runs `levee ARGS` (at most 240 s).</summary>
    public static Task<Tool.Result> RunAsync(params string[] args) =>
        Tool.RunAsync("dotnet", new[] { Path.Combine(AppContext.BaseDirectory, "levee.dll") }.Concat(args), timeout: TimeSpan.FromSeconds(240));

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
