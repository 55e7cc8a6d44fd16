using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Levee.Faults.Infrastructure;

/// <summary>
/// One `levee serve` process of a test cluster: its node id, Kafka and quorum ports and data directory
/// stay fixed across restarts. Readiness is the broker's own "ready" log line (printed once the
/// controller unfenced it), never a sleep.
/// </summary>
public sealed partial class LeveeNode : IAsyncDisposable
{
    private const int MaxLogChars = 400_000;
    private static readonly HashSet<int> HandedOutPorts = [];
    private readonly StringBuilder _log = new();
    private readonly List<string> _problems = [];
    private Process? _process;
    private long _outputChars;
    private long _logChars;
    private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public LeveeNode(int nodeId, string dataDir)
    {
        NodeId = nodeId;
        DataDir = dataDir;
    }

    public int NodeId { get; }

    public string DataDir { get; }

    public int Port { get; } = FreePort();

    public int QuorumPort { get; } = FreePort();

    public bool IsRunning => _process is { HasExited: false };

    public bool IsPaused { get; private set; }

    public int ProcessId => _process?.Id ?? throw new InvalidOperationException("Not started.");

    /// <summary>The process output of every start so far (the newest part when it grows large).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Characters the processes have printed so far, all starts together (never trimmed, unlike <see cref="Log"/>).</summary>
    public long OutputChars => Interlocked.Read(ref _outputChars);

    /// <summary>Where the log is now, for <see cref="LogSince"/> and <see cref="OutputCharsSince"/>.</summary>
    public LogMark Mark()
    {
        lock (_log)
        {
            return new LogMark(_logChars, Interlocked.Read(ref _outputChars));
        }
    }

    /// <summary>The log (process output and harness lines) appended since <paramref name="mark"/>, or its newest part when trimmed since.</summary>
    public string LogSince(LogMark mark)
    {
        lock (_log)
        {
            var length = (int)Math.Min(_log.Length, _logChars - mark.LogChars);
            return _log.ToString(_log.Length - length, length);
        }
    }

    /// <summary>Characters the process printed since <paramref name="mark"/> (harness lines not counted).</summary>
    public long OutputCharsSince(LogMark mark) => OutputChars - mark.OutputChars;

    /// <summary>Starts the process without waiting for it to be ready (all voters must start for a quorum).</summary>
    public void Launch(IEnumerable<string> args)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"Node {NodeId} is already running.");
        }

        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "levee.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        AppendLog($"==== harness: starting node {NodeId} at {DateTime.UtcNow:O}");
        _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ready = _ready;
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(e.Data, ready);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, ready);
        process.Exited += (_, _) => OnExited(process, ready);
        _process?.Dispose();
        _process = process;
        IsPaused = false;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Waits for the "ready" line of the current start.</summary>
    public Task WaitReadyAsync(TimeSpan timeout) => _ready.Task.WaitAsync(timeout);

    /// <summary>kill -9: no shutdown, no flush.</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException("Not started.");
        AppendLog($"==== harness: SIGKILL node {NodeId} at {DateTime.UtcNow:O}");
        if (IsPaused)
        {
            await SignalAsync("CONT");
        }

        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        IsPaused = false;
    }

    /// <summary>SIGTERM: a controlled shutdown (leadership moves away first); returns the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException("Not started.");
        AppendLog($"==== harness: SIGTERM node {NodeId} at {DateTime.UtcNow:O}");
        await SignalAsync("TERM");
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        return process.ExitCode;
    }

    /// <summary>SIGSTOP: the process freezes, its sockets stay open.</summary>
    public async Task PauseAsync()
    {
        AppendLog($"==== harness: SIGSTOP node {NodeId} at {DateTime.UtcNow:O}");
        await SignalAsync("STOP");
        IsPaused = true;
    }

    /// <summary>SIGCONT after <see cref="PauseAsync"/>.</summary>
    public async Task ResumeAsync()
    {
        AppendLog($"==== harness: SIGCONT node {NodeId} at {DateTime.UtcNow:O}");
        await SignalAsync("CONT");
        IsPaused = false;
    }

    /// <summary>
    /// Lines of the log that a healthy broker never prints: the runtime's "Unhandled exception" and the
    /// console logger's error and critical levels ("fail:", "crit:").
    /// </summary>
    /// <remarks>Kept apart from <see cref="Log"/>, so none is lost when the log is trimmed.</remarks>
    public IReadOnlyList<string> ProblemLines()
    {
        lock (_problems)
        {
            return [.. _problems];
        }
    }

    /// <summary>Sets the CPU affinity of every thread of the running process (taskset -a -cp), e.g. "1" or "0-1"; threads it starts later inherit it.</summary>
    public async Task PinToCpusAsync(string cpus)
    {
        AppendLog($"==== harness: taskset -a -cp {cpus} node {NodeId} at {DateTime.UtcNow:O}");
        using var taskset = Process.Start(new ProcessStartInfo("taskset", ["-a", "-cp", cpus, ProcessId.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true })!;
        await taskset.StandardOutput.ReadToEndAsync();
        await taskset.WaitForExitAsync();
        if (taskset.ExitCode != 0)
        {
            throw new InvalidOperationException($"taskset -a -cp {cpus} {ProcessId} failed with {taskset.ExitCode}.");
        }
    }

    /// <summary>Deletes the data directory (the node must be stopped).</summary>
    public void WipeData()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"Node {NodeId} is running.");
        }

        AppendLog($"==== harness: wiping {DataDir}");
        if (Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                if (IsPaused)
                {
                    await SignalAsync("CONT");
                }

                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        try
        {
            if (Directory.Exists(DataDir))
            {
                Directory.Delete(DataDir, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, ProcessId.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {ProcessId} failed with {kill.ExitCode}.");
        }
    }

    /// <summary>
    /// A node that exits before it is ready fails its wait with its exit code and the end of its output,
    /// read to the end first (the Exited event can come before the last lines).
    /// </summary>
    private void OnExited(Process process, TaskCompletionSource ready)
    {
        if (ready.Task.IsCompleted)
        {
            return;
        }

        process.WaitForExit();
        var lines = Log.Split('\n');
        var tail = string.Join('\n', lines[Math.Max(0, lines.Length - 40)..]);
        ready.TrySetException(new InvalidOperationException(
            $"Node {NodeId} (ports {Port}, {QuorumPort}) exited with code {process.ExitCode} before it was ready. Its last output:\n{tail}"));
    }

    private void OnLine(string? line, TaskCompletionSource ready)
    {
        if (line is null)
        {
            return;
        }

        Interlocked.Add(ref _outputChars, line.Length + Environment.NewLine.Length);
        AppendLog(line);
        if (ProblemLine().IsMatch(line))
        {
            lock (_problems)
            {
                _problems.Add(line);
            }
        }

        if (line.Contains(" ready: Kafka listener", StringComparison.Ordinal))
        {
            ready.TrySetResult();
        }
    }

    private void AppendLog(string line)
    {
        lock (_log)
        {
            _log.AppendLine(line);
            _logChars += line.Length + Environment.NewLine.Length;
            if (_log.Length > MaxLogChars)
            {
                _log.Remove(0, _log.Length - (MaxLogChars / 2));
            }
        }
    }

    [GeneratedRegex(@"Unhandled exception|\b(fail|crit): ")]
    private static partial Regex ProblemLine();

    /// <summary>
    /// A loopback port free now and never handed out before in this test process, below the kernel's ephemeral range
    /// (32768 and up): a port from that range may be taken by any outgoing connection before the node binds it, and a
    /// node of a cluster cannot move to another port (the others know it by its port).
    /// </summary>
    private static int FreePort()
    {
        while (true)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            lock (HandedOutPorts)
            {
                if (HandedOutPorts.Contains(port))
                {
                    continue;
                }
            }

            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
            }
            catch (SocketException)
            {
                continue;
            }

            lock (HandedOutPorts)
            {
                if (HandedOutPorts.Add(port))
                {
                    return port;
                }
            }
        }
    }
}

/// <summary>A position in a node's log (<see cref="LeveeNode.Mark"/>).</summary>
public readonly record struct LogMark(long LogChars, long OutputChars);
