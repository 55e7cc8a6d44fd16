using Levee.Storage;

namespace Levee.Cluster.Quorum;

/// <summary>Settings of one node of the metadata quorum.</summary>
public sealed class MetadataQuorumOptions
{
    /// <summary>The directory under <see cref="DataDirectory"/> holding the metadata log (Kafka's name for it).</summary>
    public const string LogDirectoryName = "__cluster_metadata-0";

    /// <summary>This node's id; must be one of <see cref="Voters"/>.</summary>
    public required int NodeId { get; init; }

    /// <summary>Every voter, this node included. One voter is the single-node default: the same code path.</summary>
    public required IReadOnlyList<QuorumVoter> Voters { get; init; }

    /// <summary>The broker's data directory; the metadata log lives in <c>&lt;DataDirectory&gt;/__cluster_metadata-0</c>.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// Lower bound of the randomised Raft election timeout: a follower that hears no leader for
    /// this long (up to <see cref="ElectionTimeoutUpper"/>) starts an election. Kafka's
    /// <c>controller.quorum.election.timeout.ms</c> is 1000; the default here is 500 ms, so a
    /// new leader is in place about a second after the old one dies.
    /// </summary>
    public TimeSpan ElectionTimeoutLower { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound of the randomised election timeout.</summary>
    public TimeSpan ElectionTimeoutUpper { get; init; } = TimeSpan.FromMilliseconds(1000);

    /// <summary>Timeout of one Raft request between voters (append entries, vote). Defaults to <see cref="ElectionTimeoutLower"/>.</summary>
    public TimeSpan? RequestTimeout { get; init; }

    /// <summary>
    /// How long <see cref="MetadataQuorum.AppendAsync"/> waits for a leader and for the commit
    /// before failing with <see cref="QuorumUnavailableException"/>.
    /// </summary>
    public TimeSpan AppendTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long <see cref="MetadataQuorum.StopAsync"/> waits for the Raft node to leave the quorum before it
    /// closes the log anyway, so that stopping a broker is bounded.
    /// </summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The free space of the data directory's file system: an append is refused (<see cref="QuorumUnavailableException"/>)
    /// rather than written when the disk is full and no reserve is left, since the write-ahead log writes through
    /// memory-mapped pages and a write the file system cannot back kills the process. Null: no check.
    /// </summary>
    public LogDirectorySpace? Space { get; init; }

    /// <summary>TLS of the Raft transport between voters (mutual: both ends present a certificate); null: plain TCP.</summary>
    public DotNext.Net.Security.SslOptions? Tls { get; init; }

    /// <summary>Take a snapshot of the image after this many applied log entries, so the log does not grow without bound.</summary>
    public int SnapshotIntervalEntries { get; init; } = 1000;

    /// <summary>The voter with <see cref="NodeId"/>.</summary>
    /// <exception cref="ArgumentException">The node is not a voter.</exception>
    public QuorumVoter LocalVoter =>
        Voters.FirstOrDefault(v => v.Id == NodeId)
        ?? throw new ArgumentException($"Node {NodeId} is not in the voter list [{string.Join(',', Voters)}].");
}
