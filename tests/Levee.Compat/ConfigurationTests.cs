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

    [Theory]
    [InlineData("--set", "log.dir=data", "'log.dir'")]
    [InlineData("--set", "num.partitions=six", "'num.partitions'")]
    [InlineData("--set", "listener.security.protocol.map=PLAINTEXT", "listener.security.protocol.map")]
    public async Task MisspelledConfigKey_StopsServeNamingIt(string flag, string setting, string named)
    {
        var (exitCode, error) = await RunToExitAsync(new Dictionary<string, string>(), flag, setting);
        Assert.NotEqual(0, exitCode);
        Assert.Contains(named, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AdminPortTaken_StopsServeNamingTheSetting()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var (exitCode, error) = await RunToExitAsync(new Dictionary<string, string>(), "--set", $"admin.listener=127.0.0.1:{port}");
        Assert.Equal(2, exitCode);
        Assert.Contains($"The admin listener cannot bind 127.0.0.1:{port}", error, StringComparison.Ordinal);
        Assert.Contains("admin.listener", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MisspelledEnvironmentVariable_StopsServeNamingIt()
    {
        var (exitCode, error) = await RunToExitAsync(new Dictionary<string, string> { ["LEVEE_LOG_DIR"] = "data" });
        Assert.NotEqual(0, exitCode);
        Assert.Contains("LEVEE_LOG_DIR", error, StringComparison.Ordinal);
    }

    /// <summary>Runs `levee serve` in an empty directory until it exits (a broker that starts instead is killed after 60 s and fails the test).</summary>
    private static async Task<(int ExitCode, string Error)> RunToExitAsync(Dictionary<string, string> environment, params string[] args)
    {
        var work = Directory.CreateTempSubdirectory("levee-config-");
        try
        {
            var info = new ProcessStartInfo("dotnet")
            {
                WorkingDirectory = work.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "levee.dll"));
            info.ArgumentList.Add("serve");
            info.ArgumentList.Add("--port");
            info.ArgumentList.Add(FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture));
            info.ArgumentList.Add("--set");
            info.ArgumentList.Add("admin.listener=127.0.0.1:0");
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }

            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }

            return (process.ExitCode, await stderr + await stdout);
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
        info.ArgumentList.Add("--set");
        info.ArgumentList.Add("admin.listener=127.0.0.1:0");
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
