using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Levee.Embedded.Consumer;

/// <summary>The packed `levee` .NET tool, installed from the local feed into a fresh tool path, as a user would.</summary>
public sealed class ToolTests : IDisposable
{
    private readonly string _home = Path.Combine(Path.GetTempPath(), "levee-tool-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task TheToolInstallsFromTheFeed_PrintsItsVersion_AndItsServeAnswersKcat()
    {
        var toolPath = Path.Combine(_home, "tools");
        // Its own package folder: a levee package of the same version cached by an earlier pack is not what is tested.
        var install = await RunAsync("dotnet", ["tool", "install", "levee", "--tool-path", toolPath, "--add-source", Feed(), "--version", Version()], environment: new() { ["NUGET_PACKAGES"] = Path.Combine(_home, "nuget") });
        Assert.True(install.ExitCode == 0, install.Output);
        var levee = Path.Combine(toolPath, "levee");

        var version = await RunAsync(levee, ["--version"]);
        Assert.Equal(0, version.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+\+[0-9a-f]{7,40}\s*$", version.Output);
        Assert.StartsWith(Version() + "+", version.Output, StringComparison.Ordinal);

        // Built from the commit checked out here.
        var head = await RunAsync("git", ["-C", Path.GetDirectoryName(Feed())!, "rev-parse", "HEAD"]);
        Assert.Equal(head.Output.Trim(), version.Output.Trim()[(Version().Length + 1)..]);

        var port = FreePort();
        using var serve = Process.Start(new ProcessStartInfo(levee)
        {
            ArgumentList = { "serve", "--data-dir", Path.Combine(_home, "data"), "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--set", "quorum.port=0", "--set", "admin.listener=127.0.0.1:0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var ready = new TaskCompletionSource();
            serve.OutputDataReceived += (_, e) =>
            {
                if (e.Data?.Contains(" ready: ", StringComparison.Ordinal) == true)
                {
                    ready.TrySetResult();
                }
            };
            serve.BeginOutputReadLine();
            serve.BeginErrorReadLine();
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));

            var bootstrap = $"127.0.0.1:{port}";
            var produce = await RunAsync("kcat", ["-b", bootstrap, "-P", "-t", "from-the-tool"], stdin: "one\ntwo\nthree\n");
            Assert.True(produce.ExitCode == 0, produce.Output);
            var consume = await RunAsync("kcat", ["-b", bootstrap, "-C", "-t", "from-the-tool", "-o", "beginning", "-c", "3", "-e"]);
            Assert.True(consume.ExitCode == 0, consume.Output);
            Assert.Equal(["one", "two", "three"], consume.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync();
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_home))
        {
            Directory.Delete(_home, recursive: true);
        }
    }

    // The feed `dotnet pack` fills, found from this test's output directory up to the repository.
    private static string Feed()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var feed = Path.Combine(dir.FullName, "artifacts", "packages");
            if (Directory.Exists(feed))
            {
                return feed;
            }
        }

        throw new DirectoryNotFoundException("No artifacts/packages above " + AppContext.BaseDirectory + ": run `dotnet pack Levee.sln -c Release -o artifacts/packages` first.");
    }

    private static string Version() =>
        typeof(LeveeServer).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : throw new InvalidOperationException("Levee.Embedded has no version");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] args, string? stdin = null, Dictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null };
        foreach (var (key, value) in environment ?? [])
        {
            info.Environment[key] = value;
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }

        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }
}
