using System.Collections.Immutable;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Controller;

/// <summary>
/// Levee's state-aware placement (<see cref="ReplicaPlacement"/>'s own candidate), kept across partitions: how many
/// partitions each broker leads and hosts, and how many of each leader's partitions each broker would take over. Each
/// <see cref="Place"/> puts one partition: its leader is the broker whose leaderships after its worst single failure are
/// fewest; its first follower, the replica an election promotes when the leader fails, the broker that has so far taken
/// over fewest of that leader's partitions, then the one whose leaderships after a failure stay fewest; its other
/// followers the brokers hosting fewest replicas; every replica on a rack the partition does not use yet, when racks are
/// set. Ties go to the first broker of an order drawn from the random source. The controller builds one from its image
/// for each request; the fleet simulator keeps one for the whole fleet.
/// </summary>
public sealed class PlacementState
{
    private readonly int[] _ids;
    private readonly Dictionary<int, int> _index;
    private readonly int[] _racks;
    private readonly int[] _order;
    private readonly int[] _leaders;
    private readonly int[] _replicas;
    private readonly int[,] _takeovers;
    private readonly int[] _maxTakeover;

    /// <summary>A placement over <paramref name="brokers"/> (each with its rack, or null) holding no partition yet.</summary>
    public PlacementState(IReadOnlyList<(int Id, string? Rack)> brokers, Random random)
    {
        ArgumentNullException.ThrowIfNull(brokers);
        ArgumentNullException.ThrowIfNull(random);
        var sorted = brokers.OrderBy(b => b.Id).ToList();
        _ids = [.. sorted.Select(b => b.Id)];
        var n = _ids.Length;
        _index = _ids.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        var rackIds = new Dictionary<string, int>(StringComparer.Ordinal);
        _racks = [.. sorted.Select(b => string.IsNullOrEmpty(b.Rack) ? -1 : rackIds.TryGetValue(b.Rack, out var r) ? r : rackIds[b.Rack] = rackIds.Count)];
        _order = [.. Enumerable.Range(0, n).OrderBy(_ => random.Next())];
        _leaders = new int[n];
        _replicas = new int[n];
        _takeovers = new int[n, n];
        _maxTakeover = new int[n];
    }

    /// <summary>The placement over <paramref name="brokers"/> of <paramref name="image"/>, counting every partition it holds.</summary>
    public static PlacementState Of(MetadataImage image, IReadOnlyList<int> brokers, Random random)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(brokers);
        var state = new PlacementState([.. brokers.Select(id => (id, image.Brokers.TryGetValue(id, out var b) ? b.Rack : null))], random);
        foreach (var partition in image.TopicsById.Values.SelectMany(t => t.Partitions.Values))
        {
            state.Count(partition.Replicas);
        }

        return state;
    }

    /// <summary>Counts a partition placed on <paramref name="replicas"/> (preferred leader first), wherever it was placed.</summary>
    public void Count(ImmutableArray<int> replicas)
    {
        foreach (var replica in replicas)
        {
            if (_index.TryGetValue(replica, out var b))
            {
                _replicas[b]++;
            }
        }

        if (replicas.IsEmpty || !_index.TryGetValue(replicas[0], out var leader))
        {
            return;
        }

        _leaders[leader]++;
        if (replicas.Length > 1 && _index.TryGetValue(replicas[1], out var first))
        {
            Takeover(leader, first);
        }
    }

    /// <summary>Places one partition of <paramref name="replicationFactor"/> replicas and counts it: its replica list, preferred leader first.</summary>
    public ImmutableArray<int> Place(int replicationFactor)
    {
        Span<int> chosen = stackalloc int[replicationFactor];

        // A broker's leaderships after its worst single failure: its own, and those of the broker it takes most from.
        var leader = Best(new LeaderScore(this), chosen[..0]);
        chosen[0] = leader;
        for (var j = 1; j < replicationFactor; j++)
        {
            chosen[j] = j == 1
                ? Best(new FirstFollowerScore(this, leader, chosen[..1]), chosen[..1])
                : Best(new FollowerScore(this, chosen[..j]), chosen[..j]);
        }

        _leaders[leader]++;
        foreach (var b in chosen)
        {
            _replicas[b]++;
        }

        if (chosen.Length > 1)
        {
            Takeover(leader, chosen[1]);
        }

        var result = ImmutableArray.CreateBuilder<int>(chosen.Length);
        foreach (var b in chosen)
        {
            result.Add(_ids[b]);
        }

        return result.MoveToImmutable();
    }

    private void Takeover(int leader, int first)
    {
        _takeovers[leader, first]++;
        _maxTakeover[first] = Math.Max(_maxTakeover[first], _takeovers[leader, first]);
    }

    // The broker not yet chosen with the smallest score, ties broken by the random order. Scores are two longs compared
    // in turn, each two counters of 32 bits, so the scan over a thousand brokers stays a tight loop.
    private int Best<TScore>(TScore score, ReadOnlySpan<int> chosen)
        where TScore : IScore, allows ref struct
    {
        var best = -1;
        (long High, long Low) bestScore = default;
        foreach (var b in _order)
        {
            if (chosen.Contains(b))
            {
                continue;
            }

            var s = score.Of(b);
            if (best < 0 || s.High < bestScore.High || (s.High == bestScore.High && s.Low < bestScore.Low))
            {
                best = b;
                bestScore = s;
            }
        }

        return best;
    }

    // How many replicas already chosen share this broker's rack (none without racks).
    private long RackUse(int b, ReadOnlySpan<int> chosen)
    {
        var rack = _racks[b];
        if (rack < 0)
        {
            return 0;
        }

        var count = 0L;
        foreach (var c in chosen)
        {
            count += _racks[c] == rack ? 1 : 0;
        }

        return count;
    }

    private static long Pack(long high, long low) => (high << 32) | low;

    private interface IScore
    {
        (long High, long Low) Of(int b);
    }

    private readonly struct LeaderScore(PlacementState s) : IScore
    {
        public (long High, long Low) Of(int b) => (s._leaders[b] + 1L + s._maxTakeover[b], Pack(s._leaders[b], s._replicas[b]));
    }

    private readonly ref struct FirstFollowerScore(PlacementState s, int leader, ReadOnlySpan<int> chosen) : IScore
    {
        private readonly ReadOnlySpan<int> _chosen = chosen;

        public (long High, long Low) Of(int b) =>
            (Pack(s.RackUse(b, _chosen), s._takeovers[leader, b]), Pack(s._leaders[b] + Math.Max(s._maxTakeover[b], s._takeovers[leader, b] + 1L), s._replicas[b]));
    }

    private readonly ref struct FollowerScore(PlacementState s, ReadOnlySpan<int> chosen) : IScore
    {
        private readonly ReadOnlySpan<int> _chosen = chosen;

        public (long High, long Low) Of(int b) => (s.RackUse(b, _chosen), s._replicas[b]);
    }
}
