using System.CommandLine;
using System.Globalization;
using Levee.Broker.Cluster;
using Levee.Commands.Clusters;
using Spectre.Console;

namespace Levee.Commands;

/// <summary>
/// `levee cluster up|status|down`: a local multi-process cluster on 127.0.0.1, each broker a `levee serve` of this
/// same executable with its own Kafka and quorum ports, all voters of one metadata quorum.
/// </summary>
internal static class ClusterCommand
{
    public const string DefaultDir = "./levee-cluster";

    public static Command Create()
    {
        var cluster = new Command("cluster", "Start, inspect and stop a local multi-process cluster.");
        cluster.Subcommands.Add(UpCommand());
        cluster.Subcommands.Add(StatusCommand());
        cluster.Subcommands.Add(DownCommand());
        return cluster;
    }

    public static Option<string> DirOption() => new("--dir") { Description = "Directory of the local cluster (cluster.json, node-N data dirs and logs).", DefaultValueFactory = _ => DefaultDir };

    public static Option<string?> BootstrapOption() => new("--bootstrap", "--bootstrap-server") { Description = "Bootstrap servers; default: those in DIR/cluster.json, else 127.0.0.1:9092." };

    public static Option<int> TimeoutOption(int seconds) => new("--timeout-s") { Description = "Timeout, in seconds.", DefaultValueFactory = _ => seconds };

    /// <summary>Runs <paramref name="action"/>, turning expected failures into one line on stderr and exit code 1.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception e) when (e is ClusterCommandException or IOException or InvalidDataException or System.Text.Json.JsonException or Confluent.Kafka.KafkaException)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }
    }

    public static IAnsiConsole CreateConsole()
    {
        var settings = new AnsiConsoleSettings();
        if (Console.IsOutputRedirected)
        {
            settings.Ansi = AnsiSupport.No;
            settings.ColorSystem = ColorSystemSupport.NoColors;
        }

        var console = AnsiConsole.Create(settings);
        if (Console.IsOutputRedirected)
        {
            console.Profile.Width = 200;
        }

        return console;
    }

    private static Command UpCommand()
    {
        var brokers = new Option<int>("--brokers") { Description = "Number of brokers (each a voter of the metadata quorum).", DefaultValueFactory = _ => 3 };
        var dir = DirOption();
        var basePort = new Option<int>("--base-port") { Description = "Broker N listens on P+2(N-1) (Kafka), P+2(N-1)+1 (quorum) and P+2B+N-1 (admin HTTP, of B brokers); 0 picks free ports.", DefaultValueFactory = _ => 19092 };
        var timeout = TimeoutOption(60);
        var set = new Option<string[]>("--set") { Description = "A setting for every broker, key=value (passed to levee serve).", AllowMultipleArgumentsPerToken = true };
        var logFormat = ServeCommand.LogFormatOption();
        var command = new Command("up", "Start N `levee serve` processes on 127.0.0.1 as one cluster and print its bootstrap servers.") { brokers, dir, basePort, timeout, set, logFormat };
        command.SetAction((parse, cancellation) => RunAsync(() => UpAsync(
            parse.GetValue(brokers),
            Path.GetFullPath(parse.GetValue(dir)!),
            parse.GetValue(basePort),
            TimeSpan.FromSeconds(parse.GetValue(timeout)),
            [.. parse.GetValue(set) ?? [], .. parse.GetValue(logFormat) is { } format ? ["log.format=" + format] : Array.Empty<string>()],
            cancellation)));
        return command;
    }

    private static Command StatusCommand()
    {
        var dir = DirOption();
        var bootstrap = BootstrapOption();
        var timeout = TimeoutOption(10);
        var commandConfig = ClientProperties.Option();
        var command = new Command("status", "Brokers, controller, under-replicated and offline partitions, over the Kafka protocol.") { dir, bootstrap, commandConfig, timeout };
        command.SetAction((parse, _) => RunAsync(() => StatusAsync(Path.GetFullPath(parse.GetValue(dir)!), parse.GetValue(bootstrap), ClientProperties.Security(parse.GetValue(commandConfig)), TimeSpan.FromSeconds(parse.GetValue(timeout)))));
        return command;
    }

    private static Command DownCommand()
    {
        var dir = DirOption();
        var timeout = TimeoutOption(60);
        var command = new Command("down", "Stop every broker of the local cluster (SIGTERM, then wait for it to exit) and remove cluster.json.") { dir, timeout };
        command.SetAction((parse, _) => RunAsync(() => DownAsync(Path.GetFullPath(parse.GetValue(dir)!), TimeSpan.FromSeconds(parse.GetValue(timeout)))));
        return command;
    }

    private static async Task<int> UpAsync(int count, string dir, int basePort, TimeSpan timeout, string[] settings, CancellationToken cancellationToken)
    {
        if (count < 1)
        {
            throw new ClusterCommandException("--brokers must be at least 1.");
        }

        if (ClusterFile.TryRead(dir) is { } existing && existing.Nodes.Any(n => Processes.IsAlive(n.Pid)))
        {
            throw new ClusterCommandException($"A cluster is already running from {dir} ({existing.BootstrapServers}); run `levee cluster down --dir {dir}` first.");
        }

        Directory.CreateDirectory(dir);
        // Kafka and quorum ports in pairs, then one admin HTTP port per broker (unless --set admin.listener decides).
        var ports = basePort == 0 ? Processes.FreePorts(3 * count) : Enumerable.Range(basePort, 3 * count).ToArray();
        var adminSet = settings.Any(s => s.StartsWith("admin.listener=", StringComparison.Ordinal));
        const string host = "127.0.0.1";
        var clusterId = StoredClusterId(dir) ?? NewClusterId();
        var voters = string.Join(',', Enumerable.Range(0, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"{i + 1}@{host}:{ports[(2 * i) + 1]}")));
        var self = Processes.SelfCommand();
        var nodes = new List<ClusterNode>();
        for (var i = 0; i < count; i++)
        {
            var id = i + 1;
            var dataDir = Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"node-{id}"));
            var log = Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"node-{id}.log"));
            File.WriteAllText(log, "");
            int? adminPort = adminSet ? null : ports[(2 * count) + i];
            string[] admin = adminPort is { } a ? ["--set", string.Create(CultureInfo.InvariantCulture, $"admin.listener={host}:{a}")] : [];
            var args = self.Concat(
            [
                "serve",
                "--node-id", id.ToString(CultureInfo.InvariantCulture),
                "--host", host,
                "--port", ports[2 * i].ToString(CultureInfo.InvariantCulture),
                "--data-dir", dataDir,
                "--set", "controller.quorum.voters=" + voters,
                "--set", "cluster.id=" + clusterId,
                .. admin,
            ]).Concat(settings.SelectMany(s => new[] { "--set", s })).ToList();
            var pid = await Processes.StartDetachedAsync(args, log, cancellationToken).ConfigureAwait(false);
            nodes.Add(new ClusterNode(id, pid, host, ports[2 * i], ports[(2 * i) + 1], dataDir, log, args, adminPort));
        }

        var file = new ClusterFile(clusterId, string.Join(',', nodes.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n.Host}:{n.Port}"))), nodes);
        file.Write(dir);

        // Ready means each broker logged its "ready" line: listener bound and unfenced by the controller.
        var deadline = DateTime.UtcNow + timeout;
        var pending = nodes.ToList();
        while (pending.Count > 0)
        {
            foreach (var node in pending.ToList())
            {
                if (LogSaysReady(node))
                {
                    pending.Remove(node);
                }
                else if (!Processes.IsAlive(node.Pid))
                {
                    await StopAllAsync(nodes, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                    File.Delete(ClusterFile.PathIn(dir));
                    throw new ClusterCommandException($"Broker {node.NodeId} exited before it was ready; its log ({node.Log}) ends:\n{Tail(node.Log)}");
                }
            }

            if (pending.Count == 0)
            {
                break;
            }

            if (DateTime.UtcNow >= deadline)
            {
                await StopAllAsync(nodes, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                File.Delete(ClusterFile.PathIn(dir));
                throw new ClusterCommandException($"Brokers {string.Join(", ", pending.Select(n => n.NodeId))} not ready within {timeout.TotalSeconds} s (a quorum needs a majority of {count}); stopped the cluster. Logs in {dir}.");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        var console = CreateConsole();
        var table = new Table().AddColumns("node", "Kafka", "quorum", "admin", "pid", "log");
        foreach (var node in nodes)
        {
            table.AddRow(node.NodeId.ToString(CultureInfo.InvariantCulture), $"{node.Host}:{node.Port}", node.QuorumPort.ToString(CultureInfo.InvariantCulture), node.AdminPort is { } adminPort ? $"http://{node.Host}:{adminPort}/" : "-", node.Pid.ToString(CultureInfo.InvariantCulture), Markup.Escape(node.Log));
        }

        console.Write(table);
        console.WriteLine($"Cluster {clusterId} is up: {count} brokers, state in {ClusterFile.PathIn(dir)}.");
        Console.Out.Flush();
        Console.WriteLine($"Bootstrap servers: {file.BootstrapServers}");
        return 0;
    }

    private static async Task<int> StatusAsync(string dir, string? bootstrap, ClientSecurity? security, TimeSpan timeout)
    {
        var file = ClusterFile.TryRead(dir);
        var view = await ClusterAdmin.DescribeAsync(ClusterFile.ResolveBootstrap(bootstrap, dir), security, timeout).ConfigureAwait(false);
        var console = CreateConsole();

        var alive = view.Brokers.ToDictionary(b => b.Id);
        var ids = alive.Keys.Concat(file?.Nodes.Select(n => n.NodeId) ?? []).Distinct().Order().ToList();
        var brokers = new Table().Title("Brokers").AddColumns("id", "host:port", "alive", "controller", "pid");
        foreach (var id in ids)
        {
            var node = file?.Nodes.FirstOrDefault(n => n.NodeId == id);
            var address = alive.TryGetValue(id, out var b) ? $"{b.Host}:{b.Port}" : node is null ? "?" : $"{node.Host}:{node.Port}";
            var pid = node is null ? "" : node.Pid.ToString(CultureInfo.InvariantCulture) + (Processes.IsAlive(node.Pid) ? "" : " (exited)");
            brokers.AddRow(id.ToString(CultureInfo.InvariantCulture), address, alive.ContainsKey(id) ? "yes" : "no", id == view.ControllerId ? "yes" : "", pid);
        }

        console.Write(brokers);
        console.WriteLine($"Cluster id: {view.ClusterId} (asked {view.AnsweredBy})");
        console.WriteLine($"Controller: {(view.ControllerId >= 0 ? view.ControllerId.ToString(CultureInfo.InvariantCulture) : "none")}");
        console.WriteLine($"Brokers alive: {alive.Count} of {ids.Count}");

        var under = view.Partitions.Where(p => p.UnderReplicated && !p.IsOffline).ToList();
        var offline = view.Partitions.Where(p => p.IsOffline).ToList();
        console.WriteLine($"Partitions: {view.Partitions.Count}, under-replicated: {under.Count}, offline: {offline.Count}");
        if (under.Count > 0)
        {
            console.Write(TopicsCommand.PartitionTable("Under-replicated partitions", under));
        }

        if (offline.Count > 0)
        {
            console.Write(TopicsCommand.PartitionTable("Offline partitions", offline));
        }

        return 0;
    }

    private static async Task<int> DownAsync(string dir, TimeSpan timeout)
    {
        var file = ClusterFile.TryRead(dir) ?? throw new ClusterCommandException($"No {ClusterFile.PathIn(dir)}: no cluster was started from {dir}.");
        var stuck = await StopAllAsync(file.Nodes, timeout).ConfigureAwait(false);
        File.Delete(ClusterFile.PathIn(dir));
        foreach (var node in file.Nodes)
        {
            Console.WriteLine(stuck.Contains(node.NodeId)
                ? $"Broker {node.NodeId} (pid {node.Pid}) did not stop within {timeout.TotalSeconds} s of SIGTERM: killed."
                : $"Broker {node.NodeId} (pid {node.Pid}) stopped.");
        }

        return 0;
    }

    /// <summary>SIGTERM to every broker at once (each runs its controlled shutdown), then waits; SIGKILL for any still running at the deadline.</summary>
    private static async Task<HashSet<int>> StopAllAsync(IReadOnlyList<ClusterNode> nodes, TimeSpan timeout)
    {
        var running = nodes.Where(n => Processes.IsAlive(n.Pid)).ToList();
        foreach (var node in running)
        {
            await Processes.SignalAsync(node.Pid, "TERM").ConfigureAwait(false);
        }

        var exited = await Task.WhenAll(running.Select(n => Processes.WaitForExitAsync(n.Pid, timeout))).ConfigureAwait(false);
        var stuck = new HashSet<int>();
        for (var i = 0; i < running.Count; i++)
        {
            if (!exited[i])
            {
                stuck.Add(running[i].NodeId);
                await Processes.SignalAsync(running[i].Pid, "KILL").ConfigureAwait(false);
                await Processes.WaitForExitAsync(running[i].Pid, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
        }

        return stuck;
    }

    /// <summary>Whether <paramref name="node"/>'s log has its "ready" line after <paramref name="offset"/> bytes.</summary>
    public static bool LogSaysReady(ClusterNode node, long offset = 0)
    {
        using var stream = new FileStream(node.Log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Contains(string.Create(CultureInfo.InvariantCulture, $"Levee broker {node.NodeId} ready"), StringComparison.Ordinal);
    }

    private static string Tail(string path)
    {
        var lines = File.ReadAllLines(path);
        return string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 20)));
    }

    private static string? StoredClusterId(string dir)
    {
        var meta = Path.Combine(dir, "node-1", "meta.properties");
        return File.Exists(meta)
            ? File.ReadAllLines(meta).Where(l => l.StartsWith("cluster.id=", StringComparison.Ordinal)).Select(l => l["cluster.id=".Length..]).FirstOrDefault()
            : null;
    }

    // Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding.
    private static string NewClusterId() =>
        Convert.ToBase64String(Guid.NewGuid().ToByteArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
