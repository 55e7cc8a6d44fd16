using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Levee.Compat;

public sealed class ConfigurationTests
{
    [Fact]
    public async Task Serve_ReadsLeveeJsonFromTheWorkingDirectory_AndEnvironmentOverridesIt()
    {
        var work = Directory.CreateTempSubdirectory("levee-config-");
        try
        {
            var filePort = FreePort();
            var envPort = FreePort();
            await File.WriteAllTextAsync(Path.Combine(work.FullName, "levee.json"), $$"""{ "port": {{filePort}}, "log.dirs": "from-file", "node.id": 7 }""");

            // The file alone decides port, data directory and node id.
            var fromFile = await RunUntilReadyAsync(work.FullName, new Dictionary<string, string>());
            Assert.True(fromFile.Contains($"Levee broker 7 ready: Kafka listener on 127.0.0.1:{filePort}, data in {Path.Combine(work.FullName, "from-file")}", StringComparison.Ordinal), fromFile);

            // LEVEE_* variables override the file.
            var fromEnv = await RunUntilReadyAsync(work.FullName, new Dictionary<string, string> { ["LEVEE_PORT"] = envPort.ToString(System.Globalization.CultureInfo.InvariantCulture), ["LEVEE_LOG_DIRS"] = "from-env" });
            Assert.Contains($"Levee broker 7 ready: Kafka listener on 127.0.0.1:{envPort}, data in {Path.Combine(work.FullName, "from-env")}", fromEnv, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(work.FullName, "from-env", "meta.properties")));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static async Task<string> RunUntilReadyAsync(string workingDirectory, Dictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "levee.dll"));
        info.ArgumentList.Add("serve");
        info.ArgumentList.Add("--set");
        info.ArgumentList.Add("quorum.port=" + FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var output = new System.Text.StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(e.Data);
            }

            if (e.Data.Contains(" ready: Kafka listener", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        lock (output)
        {
            return output.ToString();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
