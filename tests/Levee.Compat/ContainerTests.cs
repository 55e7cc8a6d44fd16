using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;

namespace Levee.Compat;

/// <summary>
/// The container image without a container builder (issue 16): the repository's Dockerfile is read, and its ENV,
/// ENTRYPOINT, CMD and HEALTHCHECK are run as the image would run them, with only its ports and data path moved to
/// free ones. The broker must take every setting from the LEVEE_* variables, advertise what they say, keep its data
/// where they say, and pass its own health check.
/// </summary>
public sealed partial class ContainerTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "levee-container-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task TheDockerfilesEnvironmentAndCommand_RunABroker_ThatAdvertisesAndStoresAsConfigured_AndIsHealthy()
    {
        var dockerfile = await File.ReadAllLinesAsync(Path.Combine(RepositoryRoot(), "Dockerfile"));
        var port = FreePort().ToString(CultureInfo.InvariantCulture);
        var quorumPort = FreePort().ToString(CultureInfo.InvariantCulture);
        var adminPort = FreePort().ToString(CultureInfo.InvariantCulture);
        var levee = Path.Combine(AppContext.BaseDirectory, "levee.dll");
        string Move(string value) => value.Replace("9092", port, StringComparison.Ordinal).Replace("9093", quorumPort, StringComparison.Ordinal).Replace("8080", adminPort, StringComparison.Ordinal)
            .Replace("/var/lib/levee", _dataDir, StringComparison.Ordinal).Replace("/app/levee.dll", levee, StringComparison.Ordinal);

        var environment = dockerfile.Select(l => EnvLine().Match(l)).Where(m => m.Success).ToDictionary(m => m.Groups[1].Value, m => Move(m.Groups[2].Value));
        Assert.True(environment.Keys.All(k => k.StartsWith("LEVEE_", StringComparison.Ordinal)), string.Join(", ", environment.Keys));
        string[] command = [.. Instruction(dockerfile, "ENTRYPOINT"), .. Instruction(dockerfile, "CMD")];
        var health = Instruction(dockerfile, "HEALTHCHECK").Select(Move).ToArray();

        using var broker = Start(command.Select(Move).ToArray(), environment);
        try
        {
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var output = new System.Text.StringBuilder();
            broker.OutputDataReceived += (_, e) =>
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }

                if (e.Data?.Contains(" ready: ", StringComparison.Ordinal) == true)
                {
                    ready.TrySetResult();
                }
            };
            broker.ErrorDataReceived += (_, e) =>
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            };
            broker.BeginOutputReadLine();
            broker.BeginErrorReadLine();
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));

            // Advertised as LEVEE_ADVERTISED_LISTENERS says (localhost), listening on every address (LEVEE_LISTENERS).
            var bootstrap = "127.0.0.1:" + port;
            using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build())
            {
                var advertised = admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers.Single();
                Assert.Equal(("localhost", int.Parse(port, CultureInfo.InvariantCulture)), (advertised.Host, advertised.Port));
            }

            using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build())
            {
                var delivered = await producer.ProduceAsync("in-the-volume", new Message<Null, string> { Value = "kept" });
                Assert.Equal(0, delivered.Offset.Value);
            }

            // The data is in the volume's path (LEVEE_LOG_DIRS).
            Assert.True(Directory.Exists(Path.Combine(_dataDir, "in-the-volume-0")), output.ToString());

            using var check = Start(health, []);
            var checkOutput = check.StandardOutput.ReadToEndAsync();
            await check.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(check.ExitCode == 0, await checkOutput);
            Assert.Contains("in-the-volume", await checkOutput, StringComparison.Ordinal);
        }
        finally
        {
            broker.Kill(entireProcessTree: true);
            await broker.WaitForExitAsync();
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_dataDir))
        {
            Directory.Delete(_dataDir, recursive: true);
        }
    }

    // An exec-form instruction (JSON array) of the Dockerfile, e.g. CMD ["serve"]; HEALTHCHECK's options skipped.
    private static string[] Instruction(string[] dockerfile, string name)
    {
        var line = dockerfile.Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        var json = line[line.IndexOf('[', StringComparison.Ordinal)..];
        return JsonSerializer.Deserialize<string[]>(json)!;
    }

    private static Process Start(string[] command, Dictionary<string, string> environment)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        return Process.Start(info)!;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dockerfile")) && File.Exists(Path.Combine(dir.FullName, "Levee.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("No repository (Dockerfile, Levee.sln) above " + AppContext.BaseDirectory);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex(@"^ENV (LEVEE_[A-Z_]+)=(.*)$")]
    private static partial Regex EnvLine();
}
