using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Levee.Cluster.Quorum;

/// <summary>One voter of the metadata quorum: a node id and the address its Raft listener binds and peers dial.</summary>
/// <param name="Id">The node id (Kafka's <c>node.id</c>).</param>
/// <param name="EndPoint">The quorum listener address.</param>
public sealed record QuorumVoter(int Id, IPEndPoint EndPoint)
{
    /// <summary>
    /// Parses a voter list in Kafka's <c>controller.quorum.voters</c> form:
    /// <c>1@127.0.0.1:19093,2@127.0.0.1:19094,3@127.0.0.1:19095</c>. Host names are resolved once,
    /// here, to their first address (IPv4 preferred), so every node compares the same addresses.
    /// </summary>
    /// <exception cref="FormatException">The list is malformed, empty, or repeats an id or an address.</exception>
    public static IReadOnlyList<QuorumVoter> ParseList(string voters)
    {
        ArgumentNullException.ThrowIfNull(voters);
        var result = new List<QuorumVoter>();
        foreach (var item in voters.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            result.Add(Parse(item));
        }

        if (result.Count == 0)
        {
            throw new FormatException("The voter list is empty; expected id@host:port[,id@host:port...].");
        }

        if (result.Select(v => v.Id).Distinct().Count() != result.Count)
        {
            throw new FormatException($"The voter list '{voters}' repeats a node id.");
        }

        if (result.Select(v => v.EndPoint).Distinct().Count() != result.Count)
        {
            throw new FormatException($"The voter list '{voters}' repeats an address.");
        }

        return result;
    }

    /// <summary>
    /// A cluster id derived from the voter set alone (Kafka's Uuid text form: 16 bytes, URL-safe base64 without
    /// padding), the same whatever order the list is given in. Nodes of one quorum started without
    /// <c>cluster.id</c> thus agree on it, where each would otherwise make up its own.
    /// </summary>
    public static string DeriveClusterId(IEnumerable<QuorumVoter> voters)
    {
        ArgumentNullException.ThrowIfNull(voters);
        var canonical = string.Join(',', voters.OrderBy(v => v.Id).Select(v => string.Create(CultureInfo.InvariantCulture, $"{v.Id}@{v.EndPoint}")));
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("levee-cluster:" + canonical));
        return Convert.ToBase64String(hash, 0, 16).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Parses one voter, <c>id@host:port</c>.</summary>
    /// <exception cref="FormatException">The text is not id@host:port.</exception>
    public static QuorumVoter Parse(string voter)
    {
        ArgumentNullException.ThrowIfNull(voter);
        var at = voter.IndexOf('@', StringComparison.Ordinal);
        var colon = voter.LastIndexOf(':');
        if (at <= 0 || colon <= at + 1
            || !int.TryParse(voter.AsSpan(0, at), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            || !int.TryParse(voter.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port is <= 0 or > IPEndPoint.MaxPort)
        {
            throw new FormatException($"Invalid voter '{voter}'; expected id@host:port, e.g. 1@127.0.0.1:9093.");
        }

        var host = voter[(at + 1)..colon].Trim('[', ']');
        return new QuorumVoter(id, new IPEndPoint(Resolve(host), port));
    }

    private static IPAddress Resolve(string host)
    {
        if (IPAddress.TryParse(host, out var address))
        {
            return address;
        }

        try
        {
            var addresses = Dns.GetHostAddresses(host);
            return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                ?? addresses.FirstOrDefault()
                ?? throw new FormatException($"Voter host '{host}' has no address.");
        }
        catch (SocketException e)
        {
            throw new FormatException($"Voter host '{host}' cannot be resolved: {e.Message}", e);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Id}@{EndPoint}";
}
