using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Levee.Compat.Infrastructure;

/// <summary>
/// A real `levee serve` process, started from the build output beside the tests, on a free port and
/// its own data directory. Readiness is the broker's own "ready" log line, not a sleep.
/// </summary>
public sealed class LeveeProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly List<LineWaiter> _waiters = [];
    private Process _process = null!;
    private TaskCompletionSource _ready = null!;

    private LeveeProcess(string dataDir, int port)
    {
        DataDir = dataDir;
        Port = port;
    }

    public string DataDir { get; }

    public int Port { get; private set; }

    /// <summary>The metadata quorum's port: each test broker needs its own, as it needs its own Kafka port.</summary>
    public int QuorumPort { get; private set; } = FreePort();

    public string BootstrapServers => $"127.0.0.1:{Port}";

    /// <summary>
    /// The admin HTTP listener's address, from the ready line: every test broker has one on a free port
    /// (admin.listener=127.0.0.1:0; the default 8080 would collide), unless the test turned it off.
    /// </summary>
    public Uri? AdminAddress { get; private set; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The broker's process id (the `dotnet` host running levee.dll).</summary>
    public int Pid => _process.Id;

    /// <summary>How many lines the broker has printed that <paramref name="matches"/> accepts.</summary>
    public int CountLines(Func<string, bool> matches)
    {
        lock (_output)
        {
            return _output.ToString().Split(Environment.NewLine).Count(matches);
        }
    }

    /// <summary>
    /// Waits until the broker has printed <paramref name="count"/> lines that <paramref name="matches"/> accepts (as
    /// they are read, no polling); fails with the broker's output after <paramref name="timeout"/>.
    /// </summary>
    public async Task WaitForLinesAsync(string what, Func<string, bool> matches, int count, TimeSpan timeout)
    {
        var waiter = new LineWaiter(matches, count);
        lock (_output)
        {
            waiter.Seen = _output.ToString().Split(Environment.NewLine).Count(matches);
            if (waiter.Seen >= count)
            {
                return;
            }

            _waiters.Add(waiter);
        }

        try
        {
            await waiter.Done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what}: not logged within {timeout.TotalSeconds:0} s. The broker's output:\n{Output}");
        }
        finally
        {
            lock (_output)
            {
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>Set when the broker runs in a directory of its own, with the default data directory (./data).</summary>
    private string? WorkingDirectory { get; init; }

    public static async Task<LeveeProcess> StartAsync(string? dataDir = null, int? port = null, params string[] extraArgs)
    {
        dataDir ??= Path.Combine(Path.GetTempPath(), "levee-compat-" + Guid.NewGuid().ToString("N"));
        var process = new LeveeProcess(dataDir, port ?? FreePort());
        await process.FirstLaunchAsync(extraArgs, portChosen: port is not null);
        return process;
    }

    /// <summary>
    /// Starts `levee serve` with two listeners: PLAINTEXT on <see cref="Port"/> (the operator's, for the CLI) and
    /// SASL_PLAINTEXT on <see cref="SaslPort"/> (the tenants' clients').
    /// </summary>
    public static Task<LeveeProcess> StartWithSaslListenerAsync(params string[] extraArgs) =>
        StartWithSaslListenerInAsync(Path.Combine(Path.GetTempPath(), "levee-compat-" + Guid.NewGuid().ToString("N")), extraArgs);

    /// <summary>
    /// As <see cref="StartWithSaslListenerAsync"/>, on <paramref name="dataDir"/>: one prepared before the first start
    /// (`levee users set --data-dir`).
    /// </summary>
    public static async Task<LeveeProcess> StartWithSaslListenerInAsync(string dataDir, params string[] extraArgs)
    {
        var process = new LeveeProcess(dataDir, FreePort()) { SaslPort = FreePort() };
        await process.FirstLaunchAsync(extraArgs, portChosen: false);
        return process;
    }

    /// <summary>The SASL_PLAINTEXT listener's port, when started by <see cref="StartWithSaslListenerAsync"/>.</summary>
    public int? SaslPort { get; private set; }

    /// <summary>
    /// Starts `levee serve` in <paramref name="workingDirectory"/> without --data-dir, as an operator would on a
    /// fresh machine: its logs go to ./data there.
    /// </summary>
    public static async Task<LeveeProcess> StartInAsync(string workingDirectory)
    {
        var process = new LeveeProcess(Path.Combine(workingDirectory, "data"), FreePort()) { WorkingDirectory = workingDirectory };
        await process.FirstLaunchAsync([], portChosen: false);
        return process;
    }

    /// <summary>Kills the process at once (SIGKILL): no clean shutdown, no flush.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>Asks for a clean stop (SIGTERM) and returns the exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    /// <summary>Starts `levee serve` again on the same port and data directory.</summary>
    public Task RestartAsync(params string[] extraArgs) => LaunchAsync(extraArgs);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    /// <summary>
    /// A port found free may be taken before the broker binds it (any client's outgoing connection draws from the
    /// same ephemeral range): then the broker exits with "Address already in use", and it is started again on
    /// other ports, unless the test chose the port.
    /// </summary>
    private async Task FirstLaunchAsync(string[] extraArgs, bool portChosen)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await LaunchAsync(extraArgs);
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && Output.Contains("Address already in use", StringComparison.Ordinal))
            {
                _process.Dispose();
                lock (_output)
                {
                    _output.Clear();
                }

                QuorumPort = FreePort();
                if (SaslPort is not null)
                {
                    SaslPort = FreePort();
                }

                if (!portChosen)
                {
                    Port = FreePort();
                }
            }
        }
    }

    private async Task LaunchAsync(string[] extraArgs)
    {
        var levee = Path.Combine(AppContext.BaseDirectory, "levee.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = WorkingDirectory ?? string.Empty,
        };
        string[] dataDir = WorkingDirectory is null ? ["--data-dir", DataDir] : [];
        var c = System.Globalization.CultureInfo.InvariantCulture;
        string[] listeners = SaslPort is { } sasl
            ? ["--set", $"listeners=PLAINTEXT://127.0.0.1:{Port.ToString(c)},SASL_PLAINTEXT://127.0.0.1:{sasl.ToString(c)}"]
            : ["--port", Port.ToString(c)];
        string[] args = [levee, "serve", .. listeners, .. dataDir, "--set", "quorum.port=" + QuorumPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--set", "admin.listener=127.0.0.1:0", .. extraArgs];
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _process = new Process { StartInfo = info, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        var process = _process;
        var ready = _ready;
        process.Exited += (_, _) => Task.Run(() =>
        {
            // Without a timeout, WaitForExit also waits until the output has been read to its end, so the
            // exception carries the broker's last words (its unhandled exception).
            process.WaitForExit();
            ready.TrySetException(new InvalidOperationException("levee exited before it was ready:\n" + Output));
        });
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await _ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            foreach (var waiter in _waiters)
            {
                if (waiter.Matches(line) && ++waiter.Seen >= waiter.Count)
                {
                    waiter.Done.TrySetResult();
                }
            }
        }

        if (line.Contains(" ready: Kafka listener", StringComparison.Ordinal))
        {
            var admin = line.LastIndexOf("; admin ", StringComparison.Ordinal) is var at and >= 0 ? line[(at + "; admin ".Length)..].Trim() : "off";
            // Never throws: an exception here, on the output reader's thread, would take the whole test host down.
            AdminAddress = Uri.TryCreate(admin, UriKind.Absolute, out var uri) ? uri : null;
            _ready.TrySetResult();
        }
    }

    private sealed class LineWaiter(Func<string, bool> matches, int count)
    {
        public Func<string, bool> Matches { get; } = matches;

        public int Count { get; } = count;

        public int Seen { get; set; }

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
