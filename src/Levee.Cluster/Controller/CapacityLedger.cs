using System.Collections.Immutable;

namespace Levee.Cluster.Controller;

/// <summary>A broker as the capacity model sees it: its id, its rack (or null) and its limits.</summary>
/// <param name="Id">The broker id.</param>
/// <param name="Rack">Its <c>broker.rack</c>, or null.</param>
/// <param name="Limits">Its <c>broker.capacity.*</c> limits.</param>
public readonly record struct LedgerBroker(int Id, string? Rack, BrokerCapacity Limits);

/// <summary>A partition as the capacity model sees it: replicas in preferred order, ISR, leader and what it reserves.</summary>
/// <param name="Replicas">Replica brokers, preferred leader first.</param>
/// <param name="Isr">The in-sync replicas.</param>
/// <param name="Leader">The leader, or -1.</param>
/// <param name="Load">What it reserves.</param>
public readonly record struct LedgerPartition(ImmutableArray<int> Replicas, ImmutableArray<int> Isr, int Leader, PartitionLoad Load);

/// <summary>A broker and resource whose worst value a change touched, and that worst value before it.</summary>
/// <param name="Broker">The broker's index in <see cref="CapacityLedger.Brokers"/>.</param>
/// <param name="Resource">The resource.</param>
/// <param name="WorstBefore">Its worst value before the change.</param>
public readonly record struct LedgerChange(int Broker, CapacityResource Resource, double WorstBefore);

/// <summary>
/// The capacity model kept incrementally: partitions are added one at a time, and for each single failure the
/// controller plans for (each broker, and each rack when brokers have racks) it keeps the load that failure would move
/// onto each survivor. Adding a partition touches only the failures of its own brokers (and their racks), so a fleet of
/// a million partitions is kept as cheaply as a laptop's dozen; <see cref="CapacityModel"/> is this ledger filled from a
/// metadata image, and the headroom guard reads it (<see cref="HeadroomGuard"/>).
/// <para>
/// When a failure takes a partition's leader, its leadership goes to the replica an election picks
/// (<see cref="PartitionLeadership.FirstInSync"/>: the first in preferred order that is in the ISR and survives); each
/// replica the failure takes is re-created, once it is replaced, on the survivor that has so far been given the fewest
/// of that failure's replicas for its partition limit and does not hold the partition (ties to the first broker): the
/// failed broker's replicas spread evenly over the survivors, as healing them onto the least loaded does on a balanced
/// cluster, decided when the partition is added so that it never has to be revisited.
/// </para>
/// <para>
/// <see cref="Begin"/>, <see cref="Commit"/> and <see cref="Rollback"/> bracket a change: the ledger journals what it
/// touched, so that the guard compares only those values with what they were, and a refused change is undone exactly.
/// </para>
/// </summary>
public sealed class CapacityLedger
{
    private const int R = 5;
    private readonly int _n;
    private readonly Dictionary<int, int> _index;
    private readonly int[] _rackFailure;
    private readonly List<(string Name, int[] Members)> _failures = [];
    private readonly double[] _used;
    private readonly double[] _moved;
    private readonly double[] _movedReplicas;
    private readonly double[] _maxMoved;
    private readonly PriorityQueue<int, (double Fill, int Broker)>?[] _queues;
    private readonly List<(Slot Slot, int Index, double Old)> _journal = [];
    private readonly List<int> _touched = [];
    private readonly double[] _worstBefore;
    private readonly int[] _touchedIn;
    private int _generation = 1;
    private bool _journaling;

    /// <summary>A ledger of <paramref name="brokers"/> (the live ones, in the order failures are considered) holding no partition yet.</summary>
    public CapacityLedger(IReadOnlyList<LedgerBroker> brokers)
    {
        ArgumentNullException.ThrowIfNull(brokers);
        _n = brokers.Count;
        Brokers = [.. brokers.Select(b => b.Id)];
        Limits = [.. brokers.Select(b => b.Limits)];
        _index = Brokers.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i);
        if (_n > 1)
        {
            _failures.AddRange(Brokers.Select((id, i) => ($"broker {id}", new[] { i })));
        }

        _rackFailure = new int[_n];
        Array.Fill(_rackFailure, -1);
        foreach (var rack in brokers.Select((b, i) => (b.Rack, i)).Where(b => !string.IsNullOrEmpty(b.Rack)).GroupBy(b => b.Rack!, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var members = rack.Select(b => b.i).ToArray();
            if (members.Length < _n)
            {
                foreach (var i in members)
                {
                    _rackFailure[i] = _failures.Count;
                }

                _failures.Add(($"rack {rack.Key}", members));
            }
        }

        _used = new double[_n * R];
        _worstBefore = new double[_n * R];
        _touchedIn = new int[_n * R];
        _maxMoved = new double[_n * R];
        _moved = new double[_failures.Count * _n * R];
        _movedReplicas = new double[_failures.Count * _n];
        _queues = new PriorityQueue<int, (double, int)>?[_failures.Count];
    }

    private enum Slot
    {
        Used,
        MaxMoved,
        Moved,
        MovedReplicas,
    }

    /// <summary>The brokers, by id.</summary>
    public ImmutableArray<int> Brokers { get; }

    /// <summary>Each broker's limits, in the order of <see cref="Brokers"/>.</summary>
    public ImmutableArray<BrokerCapacity> Limits { get; }

    /// <summary>How many failures are planned for: each broker (when there are several), then each rack.</summary>
    public int FailureCount => _failures.Count;

    /// <summary>The index of broker <paramref name="id"/> in <see cref="Brokers"/>, or -1.</summary>
    public int IndexOf(int id) => _index.GetValueOrDefault(id, -1);

    /// <summary>The name of failure <paramref name="failure"/>: <c>broker 2</c> or <c>rack r1</c>.</summary>
    public string FailureName(int failure) => _failures[failure].Name;

    /// <summary>The brokers (indexes in <see cref="Brokers"/>) failure <paramref name="failure"/> takes.</summary>
    public IReadOnlyList<int> FailureMembers(int failure) => _failures[failure].Members;

    /// <summary>What broker <paramref name="broker"/> (an index) has reserved of <paramref name="resource"/> now.</summary>
    public double Used(int broker, CapacityResource resource) => _used[(broker * R) + (int)resource];

    /// <summary>
    /// Broker <paramref name="broker"/>'s value of <paramref name="resource"/> once failure <paramref name="failure"/>
    /// has happened and been replaced: 0 when the failure takes it.
    /// </summary>
    public double After(int failure, int broker, CapacityResource resource) =>
        In(failure, broker) ? 0 : Used(broker, resource) + _moved[Slot3(failure, broker, resource)];

    /// <summary>Broker <paramref name="broker"/>'s worst value of <paramref name="resource"/> over every failure it survives (now, when it survives none).</summary>
    public double WorstValue(int broker, CapacityResource resource) => Used(broker, resource) + _maxMoved[(broker * R) + (int)resource];

    /// <summary>The worst value, and the first failure (in the order they are planned for) that causes it; <c>none</c> when no failure leaves the broker standing.</summary>
    public WorstCase Worst(int broker, CapacityResource resource)
    {
        var max = _maxMoved[(broker * R) + (int)resource];
        for (var f = 0; f < _failures.Count; f++)
        {
            if (!In(f, broker) && _moved[Slot3(f, broker, resource)] == max)
            {
                return new WorstCase(WorstValue(broker, resource), _failures[f].Name);
            }
        }

        return new WorstCase(WorstValue(broker, resource), "none");
    }

    /// <summary>The most broker <paramref name="broker"/> may be at after a failure: its limit less the margin; with one broker, its limit.</summary>
    public double Bound(int broker, CapacityResource resource, double margin) =>
        Limits[broker][resource] * (_n > 1 ? 1 - margin : 1);

    /// <summary>Adds <paramref name="partition"/>: what it reserves now, and what each failure of its brokers would move.</summary>
    public void Add(in LedgerPartition partition)
    {
        var replicas = partition.Replicas;
        var load = partition.Load;
        foreach (var replica in replicas)
        {
            if (_index.TryGetValue(replica, out var i))
            {
                AddReplica(Slot.Used, i * R, load);
            }
        }

        var leader = IndexOf(partition.Leader);
        if (leader >= 0)
        {
            AddLeadership(Slot.Used, leader * R, load, replicas.Length);
        }

        // The failures that touch the partition: those of its replicas' brokers and of their racks.
        Span<int> touched = stackalloc int[2 * replicas.Length];
        var count = 0;
        foreach (var replica in replicas)
        {
            if (_index.TryGetValue(replica, out var i))
            {
                count = Touch(touched, count, _n > 1 ? i : -1);
                count = Touch(touched, count, _rackFailure[i]);
            }
        }

        foreach (var f in touched[..count])
        {
            if (leader >= 0 && In(f, leader))
            {
                var next = IndexOf(PartitionLeadership.FirstInSync(replicas.AsSpan(), partition.Isr.AsSpan(), r => _index.TryGetValue(r, out var i) && !In(f, i)));
                if (next >= 0)
                {
                    AddLeadership(Slot.Moved, Slot3(f, next, 0), load, replicas.Length);
                    RaiseMax(next, f);
                }
            }

            foreach (var replica in replicas)
            {
                if (_index.TryGetValue(replica, out var i) && In(f, i) && Replacement(f, replicas) is var target and >= 0)
                {
                    AddReplica(Slot.Moved, Slot3(f, target, 0), load);
                    Set(Slot.MovedReplicas, (f * _n) + target, _movedReplicas[(f * _n) + target] + 1);
                    _queues[f]!.Enqueue(target, (Fill(f, target), target));
                    RaiseMax(target, f);
                }
            }
        }
    }

    /// <summary>Starts journaling a change: what <see cref="Add"/> touches from now on can be listed and undone.</summary>
    public void Begin()
    {
        Forget();
        _journaling = true;
    }

    /// <summary>Each broker and resource whose worst value the change touched, by broker then resource, with its worst value before.</summary>
    public IReadOnlyList<LedgerChange> Changes()
    {
        _touched.Sort();
        return [.. _touched.Select(i => new LedgerChange(i / R, (CapacityResource)(i % R), _worstBefore[i]))];
    }

    /// <summary>Keeps the change.</summary>
    public void Commit()
    {
        Forget();
        _journaling = false;
    }

    // Empties the journal; a new generation marks nothing as touched, without clearing the marks one by one.
    private void Forget()
    {
        _journal.Clear();
        _touched.Clear();
        _generation++;
    }

    /// <summary>Undoes the change exactly, as if it had never been added.</summary>
    public void Rollback()
    {
        for (var j = _journal.Count - 1; j >= 0; j--)
        {
            var (slot, index, old) = _journal[j];
            Values(slot)[index] = old;
            if (slot == Slot.MovedReplicas)
            {
                var (f, b) = Math.DivRem(index, _n);
                _queues[f]!.Enqueue(b, (Fill(f, b), b));
            }
        }

        Commit();
    }

    /// <summary>What one replica of a partition reserving <paramref name="load"/> puts on the broker hosting it: the replica, its disk and the bytes written to it.</summary>
    public static void AddReplica(Span<double> used, PartitionLoad load)
    {
        used[(int)CapacityResource.Partitions] += 1;
        used[(int)CapacityResource.DiskBytes] += load.DiskBytes;
        used[(int)CapacityResource.BytesInPerSec] += load.BytesInPerSec;
    }

    /// <summary>What leading a partition of <paramref name="replicas"/> replicas reserving <paramref name="load"/> puts on its leader: bytes to consumers and to each follower, and its connections.</summary>
    public static void AddLeadership(Span<double> used, PartitionLoad load, int replicas)
    {
        used[(int)CapacityResource.BytesOutPerSec] += load.ConsumeBytesPerSec + (load.BytesInPerSec * (replicas - 1));
        used[(int)CapacityResource.Connections] += load.Connections;
    }

    private static int Touch(Span<int> touched, int count, int failure)
    {
        if (failure < 0 || touched[..count].Contains(failure))
        {
            return count;
        }

        touched[count] = failure;
        return count + 1;
    }

    private bool In(int failure, int broker) => _n > 1 && failure < _n ? failure == broker : _rackFailure[broker] == failure;

    private int Slot3(int failure, int broker, int resource) => (((failure * _n) + broker) * R) + resource;

    private int Slot3(int failure, int broker, CapacityResource resource) => Slot3(failure, broker, (int)resource);

    private double Fill(int failure, int broker) => _movedReplicas[(failure * _n) + broker] / (double)Limits[broker].Partitions;

    // The survivor of failure f that has been given the fewest of its replicas for its limit, not holding the partition.
    private int Replacement(int f, ImmutableArray<int> replicas)
    {
        var queue = _queues[f] ??= NewQueue(f);
        Span<int> skipped = stackalloc int[replicas.Length];
        var skippedCount = 0;
        var chosen = -1;
        while (queue.TryDequeue(out var b, out var key))
        {
            if (key.Fill != Fill(f, b) || skipped[..skippedCount].Contains(b))
            {
                continue;
            }

            if (replicas.Contains(Brokers[b]))
            {
                skipped[skippedCount++] = b;
                continue;
            }

            chosen = b;
            break;
        }

        foreach (var b in skipped[..skippedCount])
        {
            queue.Enqueue(b, (Fill(f, b), b));
        }

        return chosen;
    }

    private PriorityQueue<int, (double, int)> NewQueue(int f)
    {
        var queue = new PriorityQueue<int, (double, int)>(_n);
        for (var b = 0; b < _n; b++)
        {
            if (!In(f, b))
            {
                queue.Enqueue(b, (Fill(f, b), b));
            }
        }

        return queue;
    }

    private void AddReplica(Slot slot, int at, PartitionLoad load)
    {
        Span<double> delta = stackalloc double[R];
        AddReplica(delta, load);
        AddAll(slot, at, delta);
    }

    private void AddLeadership(Slot slot, int at, PartitionLoad load, int replicas)
    {
        Span<double> delta = stackalloc double[R];
        AddLeadership(delta, load, replicas);
        AddAll(slot, at, delta);
    }

    private void AddAll(Slot slot, int at, ReadOnlySpan<double> delta)
    {
        for (var r = 0; r < R; r++)
        {
            if (delta[r] != 0)
            {
                Set(slot, at + r, Values(slot)[at + r] + delta[r]);
            }
        }
    }

    // A failure moved more onto broker b: its worst values rise where this failure now moves the most.
    private void RaiseMax(int b, int f)
    {
        for (var r = 0; r < R; r++)
        {
            var moved = _moved[Slot3(f, b, r)];
            if (moved > _maxMoved[(b * R) + r])
            {
                Set(Slot.MaxMoved, (b * R) + r, moved);
            }
        }
    }

    private void Set(Slot slot, int index, double value)
    {
        var array = Values(slot);
        if (_journaling)
        {
            _journal.Add((slot, index, array[index]));
            if (slot is Slot.Used or Slot.MaxMoved && _touchedIn[index] != _generation)
            {
                _touchedIn[index] = _generation;
                _worstBefore[index] = _used[index] + _maxMoved[index];
                _touched.Add(index);
            }
        }

        array[index] = value;
    }

    private double[] Values(Slot slot) => slot switch
    {
        Slot.Used => _used,
        Slot.MaxMoved => _maxMoved,
        Slot.Moved => _moved,
        _ => _movedReplicas,
    };
}
