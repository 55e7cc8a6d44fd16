using System.Text.Json;
using System.Text.Json.Serialization;

namespace Levee.Commands.Clusters;

/// <summary>
/// One broker process of a local cluster, as <c>levee cluster up</c> started it (and the command that did, for drills
/// that restart it); <see cref="AdminPort"/> is its admin HTTP port, null when <c>--set admin.listener</c> chose.
/// </summary>
internal sealed record ClusterNode(int NodeId, int Pid, string Host, int Port, int QuorumPort, string DataDir, string Log, IReadOnlyList<string>? Command = null, int? AdminPort = null);

/// <summary>DIR/cluster.json: what <c>levee cluster up</c> started, read by <c>status</c> and <c>down</c>.</summary>
internal sealed record ClusterFile(string ClusterId, string BootstrapServers, IReadOnlyList<ClusterNode> Nodes)
{
    public const string FileName = "cluster.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string PathIn(string dir) => Path.Combine(dir, FileName);

    /// <summary>The file in <paramref name="dir"/>, or null when there is none.</summary>
    public static ClusterFile? TryRead(string dir)
    {
        var path = PathIn(dir);
        if (!File.Exists(path))
        {
            return null;
        }

        return JsonSerializer.Deserialize<ClusterFile>(File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"{path} is empty.");
    }

    public void Write(string dir)
    {
        var path = PathIn(dir);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this, Json));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Bootstrap servers: the flag when given, else DIR/cluster.json's, else the single-broker default.</summary>
    public static string ResolveBootstrap(string? bootstrap, string dir) =>
        bootstrap ?? TryRead(dir)?.BootstrapServers ?? "127.0.0.1:9092";
}
