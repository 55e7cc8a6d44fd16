using System.Diagnostics;
using System.Globalization;

namespace Levee.Commands.Clusters;

/// <summary>Starting detached `levee serve` processes and watching and stopping them by pid.</summary>
internal static class Processes
{
    /// <summary>How to run this same executable: the apphost directly, or <c>dotnet levee.dll</c>.</summary>
    public static IReadOnlyList<string> SelfCommand()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable this is.");
        var entry = System.Reflection.Assembly.GetEntryAssembly()?.Location;
        return string.Equals(Path.GetFileNameWithoutExtension(process), "dotnet", StringComparison.Ordinal) && !string.IsNullOrEmpty(entry)
            ? [process, entry]
            : [process];
    }

    /// <summary>
    /// Starts <paramref name="command"/> detached from this process (its own session when setsid is available,
    /// stdin from /dev/null, stdout and stderr appended to <paramref name="log"/>), so it outlives this command,
    /// and returns its pid.
    /// </summary>
    public static async Task<int> StartDetachedAsync(IReadOnlyList<string> command, string log, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardOutput = true };
        info.ArgumentList.Add("-c");
        // The background job of a non-interactive shell is not a process group leader, so setsid makes it a
        // session leader in place (no fork) and $! is the broker's own pid.
        info.ArgumentList.Add("log=\"$1\"; shift; if command -v setsid >/dev/null 2>&1; then setsid \"$@\" >>\"$log\" 2>&1 </dev/null & else \"$@\" >>\"$log\" 2>&1 </dev/null & fi; echo $!");
        info.ArgumentList.Add("levee-cluster");
        info.ArgumentList.Add(log);
        foreach (var arg in command)
        {
            info.ArgumentList.Add(arg);
        }

        using var shell = Process.Start(info) ?? throw new InvalidOperationException("Could not start /bin/sh.");
        var output = await shell.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await shell.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return int.TryParse(output.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            ? pid
            : throw new InvalidOperationException($"Could not start {string.Join(' ', command)}: {output}");
    }

    /// <summary>True while <paramref name="pid"/> runs (a zombie counts as gone).</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0)
        {
            return false;
        }

        var stat = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat";
        if (Directory.Exists("/proc/self"))
        {
            try
            {
                var text = File.ReadAllText(stat);
                var close = text.LastIndexOf(')');
                return close > 0 && close + 2 < text.Length && text[close + 2] is not ('Z' or 'X');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Sends <paramref name="signal"/> (TERM, KILL) to <paramref name="pid"/>.</summary>
    public static async Task SignalAsync(int pid, string signal)
    {
        var info = new ProcessStartInfo("kill") { UseShellExecute = false, RedirectStandardError = true };
        info.ArgumentList.Add("-" + signal);
        info.ArgumentList.Add(pid.ToString(CultureInfo.InvariantCulture));
        using var kill = Process.Start(info) ?? throw new InvalidOperationException("Could not run kill.");
        await kill.StandardError.ReadToEndAsync().ConfigureAwait(false);
        await kill.WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>Waits until <paramref name="pid"/> has exited or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> WaitForExitAsync(int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsAlive(pid))
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>
    /// <paramref name="count"/> distinct TCP ports free on the loopback interface right now, chosen at random below the
    /// kernel's ephemeral range (32768 and up). A node's ports are fixed for its life (the others know it by them), and
    /// a port of that range may be taken by any outgoing connection while the node is down, so that a broker a drill
    /// restarts could not bind it again.
    /// </summary>
    public static int[] FreePorts(int count)
    {
        var ports = new HashSet<int>();
        while (ports.Count < count)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            try
            {
                using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
                listener.Start();
            }
            catch (System.Net.Sockets.SocketException)
            {
                continue;
            }

            ports.Add(port);
        }

        return [.. ports];
    }
}
