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
/// <remarks>
/// Brokers are held in the random order (index = place in it), so that a tie goes to the lowest index. The leader and
/// the other followers, whose scores are the broker's own counts, come from priority queues; the first follower, whose
/// score depends on the leader, from one pass over contiguous arrays of counts.
/// </remarks>
public sealed class PlacementState
{
    private readonly int _n;
    private readonly int[] _ids;
    private readonly Dictionary<int, int> _index;
    private readonly int[] _racks;
    private readonly int _rackCount;
    private readonly int[] _leaders;
    private readonly int[] _replicas;
    private readonly int[] _takeovers;
    private readonly int[] _maxTakeover;
    private readonly PriorityQueue<int, (long Leaderships, long Then, int Broker)> _leaderQueue = new();
    private readonly PriorityQueue<int, (int Replicas, int Broker)>[] _rackQueues;

    /// <summary>A placement over <paramref name="brokers"/> (each with its rack, or null) holding no partition yet.</summary>
    public PlacementState(IReadOnlyList<(int Id, string? Rack)> brokers, Random random)
    {
        ArgumentNullException.ThrowIfNull(brokers);
        ArgumentNullException.ThrowIfNull(random);
        var sorted = brokers.OrderBy(b => b.Id).ToList();
        _n = sorted.Count;
        var rackIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var racks = sorted.Select(b => string.IsNullOrEmpty(b.Rack) ? -1 : rackIds.TryGetValue(b.Rack, out var r) ? r : rackIds[b.Rack] = rackIds.Count).ToArray();
        _rackCount = rackIds.Count;
        var order = Enumerable.Range(0, _n).OrderBy(_ => random.Next()).ToArray();
        _ids = [.. order.Select(i => sorted[i].Id)];
        _racks = [.. order.Select(i => racks[i])];
        _index = _ids.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        _leaders = new int[_n];
        _replicas = new int[_n];
        _takeovers = new int[_n * _n];
        _maxTakeover = new int[_n];

        // One queue per rack, and the last for brokers without one.
        _rackQueues = [.. Enumerable.Range(0, _rackCount + 1).Select(_ => new PriorityQueue<int, (int, int)>())];
        for (var b = 0; b < _n; b++)
        {
            Requeue(b);
        }
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
    public void Count(ImmutableArray<int> replicas) => Change(replicas, +1);

    /// <summary>Forgets a partition counted on <paramref name="replicas"/>: one the headroom guard refused once placed.</summary>
    public void Uncount(ImmutableArray<int> replicas) => Change(replicas, -1);

    /// <summary>Places one partition of <paramref name="replicationFactor"/> replicas and counts it: its replica list, preferred leader first.</summary>
    public ImmutableArray<int> Place(int replicationFactor)
    {
        Span<int> chosen = stackalloc int[replicationFactor];

        // A broker's leaderships after its worst single failure: its own, and those of the broker it takes most from.
        chosen[0] = Leader();
        for (var j = 1; j < replicationFactor; j++)
        {
            chosen[j] = j == 1 ? FirstFollower(chosen[0]) : Follower(chosen[..j]);
        }

        var result = ImmutableArray.CreateBuilder<int>(chosen.Length);
        foreach (var b in chosen)
        {
            result.Add(_ids[b]);
        }

        var placed = result.MoveToImmutable();
        Count(placed);
        return placed;
    }

    private void Change(ImmutableArray<int> replicas, int sign)
    {
        foreach (var replica in replicas)
        {
            if (_index.TryGetValue(replica, out var b))
            {
                _replicas[b] += sign;
            }
        }

        if (!replicas.IsEmpty && _index.TryGetValue(replicas[0], out var leader))
        {
            _leaders[leader] += sign;
            if (replicas.Length > 1 && _index.TryGetValue(replicas[1], out var first))
            {
                var taken = _takeovers[(leader * _n) + first] += sign;
                if (sign > 0)
                {
                    _maxTakeover[first] = Math.Max(_maxTakeover[first], taken);
                }
                else
                {
                    var most = 0;
                    for (var l = 0; l < _n; l++)
                    {
                        most = Math.Max(most, _takeovers[(l * _n) + first]);
                    }

                    _maxTakeover[first] = most;
                }
            }
        }

        foreach (var replica in replicas)
        {
            if (_index.TryGetValue(replica, out var b))
            {
                Requeue(b);
            }
        }
    }

    // The queues keep every key a broker has had; only the one matching its counts now is valid, the rest are dropped
    // when they come to the top.
    private void Requeue(int b)
    {
        _leaderQueue.Enqueue(b, LeaderKey(b));
        _rackQueues[_racks[b] < 0 ? ^1 : _racks[b]].Enqueue(b, (_replicas[b], b));
    }

    private (long, long, int) LeaderKey(int b) => (_leaders[b] + 1L + _maxTakeover[b], ((long)_leaders[b] << 32) | (uint)_replicas[b], b);

    // The leader: fewest leaderships after its worst single failure (its own, and those of the broker it takes most
    // from), then fewest leaderships, fewest replicas, first in the order.
    private int Leader()
    {
        while (_leaderQueue.TryPeek(out var b, out var key) && key != LeaderKey(b))
        {
            _leaderQueue.Dequeue();
        }

        return _leaderQueue.Peek();
    }

    // The first follower: not on the leader's rack, fewest of the leader's partitions taken over, fewest leaderships
    // after the worst failure it takes part in, fewest replicas, first in the order.
    private int FirstFollower(int leader)
    {
        var row = _takeovers.AsSpan(leader * _n, _n);
        var leaderRack = _racks[leader];
        var racks = _racks.AsSpan(0, _n);
        var leaders = _leaders.AsSpan(0, _n);
        var most = _maxTakeover.AsSpan(0, _n);
        var replicas = _replicas.AsSpan(0, _n);
        var best = -1;
        long bestHigh = long.MaxValue, bestLow = long.MaxValue;
        for (var b = 0; b < row.Length; b++)
        {
            long taken = row[b];
            var high = ((leaderRack >= 0 && racks[b] == leaderRack ? 1L : 0L) << 32) | taken;
            if (high > bestHigh || b == leader)
            {
                continue;
            }

            var low = ((leaders[b] + Math.Max(most[b], taken + 1)) << 32) | (uint)replicas[b];
            if (high < bestHigh || low < bestLow)
            {
                (best, bestHigh, bestLow) = (b, high, low);
            }
        }

        return best;
    }

    // Another follower: fewest replicas already chosen on its rack, then fewest replicas hosted, first in the order;
    // each rack's least loaded broker not chosen yet is its candidate.
    private int Follower(ReadOnlySpan<int> chosen)
    {
        var best = -1;
        (long Use, int Replicas, int Broker) bestKey = default;
        Span<int> held = stackalloc int[chosen.Length];
        for (var g = 0; g < _rackQueues.Length; g++)
        {
            var queue = _rackQueues[g];
            var rack = g == _rackQueues.Length - 1 ? -1 : g;
            long use = 0;
            foreach (var c in chosen)
            {
                use += rack >= 0 && _racks[c] == rack ? 1 : 0;
            }

            // Chosen brokers are set aside (and put back) to reach the least loaded one not chosen.
            var heldCount = 0;
            var candidate = -1;
            while (queue.TryPeek(out var b, out var key))
            {
                if (key.Replicas != _replicas[b])
                {
                    queue.Dequeue();
                }
                else if (chosen.Contains(b))
                {
                    // A chosen broker may be queued twice with its current key: it is put back once.
                    queue.Dequeue();
                    if (!held[..heldCount].Contains(b))
                    {
                        held[heldCount++] = b;
                    }
                }
                else
                {
                    candidate = b;
                    break;
                }
            }

            foreach (var b in held[..heldCount])
            {
                queue.Enqueue(b, (_replicas[b], b));
            }

            if (candidate >= 0 && (best < 0 || (use, _replicas[candidate], candidate).CompareTo(bestKey) < 0))
            {
                (best, bestKey) = (candidate, (use, _replicas[candidate], candidate));
            }
        }

        return best;
    }
}
