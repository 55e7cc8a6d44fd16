using System.Collections.Immutable;
using Levee.Cluster.Controller;

namespace Levee.Cluster.Simulation;

/// <summary>What one injected failure did under one policy.</summary>
/// <param name="BrokersLost">Brokers that went down: those injected and those overload took down after them.</param>
/// <param name="OverloadFailures">Failures of brokers pushed over a limit (a cascade when above 0), other than a slow broker failing of its own slowness.</param>
/// <param name="PartitionHoursUnavailable">Partitions without a live in-sync replica, times the hours they had none.</param>
/// <param name="PeakFill">Each resource's highest load on any live broker for its limit, from the failure on.</param>
public sealed record ScenarioResult(int BrokersLost, int OverloadFailures, double PartitionHoursUnavailable, ImmutableArray<double> PeakFill);

/// <summary>
/// One failure played out on one policy's fleet in virtual time, for eight hours: the controller's rules as the
/// controller applies them. A broker that goes down has its leaderships moved by Kafka's election rule
/// (<see cref="PartitionLeadership.FirstInSync"/>); a partition with no live in-sync replica is unavailable until one
/// comes back; a broker back up catches up and takes its preferred leaderships back; under a healing policy, a broker
/// down past the healing delay, alone, has its replicas re-created by <see cref="Healing"/>'s rules (paused while more
/// than one broker is down, at most 50 at a time, each where <see cref="Healing.Target"/> puts it, none that takes a
/// survivor over its bound), copied at <c>leader.replication.throttled.rate</c> or, unthrottled, at half the leader's
/// link per copy. Every five minutes, and after every change, each live broker's load (what its tenants carry at that
/// hour, plus copies) is compared with its limits: a broker over one fails after a delay (5 minutes over its network or
/// connections, 10 over its partitions, an hour over its disk) unless it has come back under, and restarts ten minutes
/// later.
/// </summary>
public sealed class ScenarioRun
{
    private const int R = 5;
    private const double Horizon = 8;
    private const double Tick = 5 / 60.0;
    private const double HealTick = 1 / 60.0;
    private const double HealingDelay = 0.5;
    private const int MaxInFlight = 50;
    private const double OverloadRestart = 10 / 60.0;
    private const double CatchUp = 5 / 60.0;
    private static readonly double[] OverloadDelay = [10 / 60.0, 1, 5 / 60.0, 5 / 60.0, 5 / 60.0];

    private readonly Fleet _fleet;
    private readonly Workload _workload;
    private readonly SimulationPolicy _policy;
    private readonly FailureScenario _scenario;
    private readonly Demand _demand;
    private readonly double _margin;
    private readonly int _n;
    private readonly int _rf;
    private readonly double[] _reserved;
    private readonly double[] _carried;
    private readonly double[] _incoming;
    private readonly double[] _copyIn;
    private readonly double[] _copyOut;
    private readonly int[] _copiesFrom;
    private readonly bool[] _alive;
    private readonly bool[] _inSync;
    private readonly bool[] _lost;
    private readonly double[] _slow;
    private readonly double[] _downSince;
    private readonly long[] _version;
    private readonly bool[] _pending;
    private readonly Dictionary<int, int> _leaders = [];
    private readonly Dictionary<int, int[]> _healed = [];
    private readonly Dictionary<int, double> _offline = [];
    private readonly List<int>[] _gained;
    private readonly Dictionary<int, Copy> _copies = [];
    private readonly PriorityQueue<Event, (double, long)> _events = new();
    private readonly double[] _peak = new double[R];
    private long _sequence;
    private int _overloads;
    private int _down;
    private double _unavailable;
    private double _checkAt = -1;
    private double _healAt = -1;

    /// <summary>A run of <paramref name="scenario"/> on <paramref name="fleet"/> under <paramref name="policy"/>: call <see cref="Run"/> or <see cref="Failover"/> once.</summary>
    public ScenarioRun(Fleet fleet, SimulationPolicy policy, FailureScenario scenario, Demand demand, double margin)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        _fleet = fleet;
        _workload = fleet.Workload;
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _scenario = scenario ?? throw new ArgumentNullException(nameof(scenario));
        _demand = demand ?? throw new ArgumentNullException(nameof(demand));
        _margin = margin;
        _n = _workload.Brokers.Length;
        _rf = _workload.ReplicationFactor;
        _reserved = (double[])fleet.Reserved.Clone();
        _carried = (double[])fleet.Carried.Clone();
        _incoming = new double[_n * R];
        _copyIn = new double[_n];
        _copyOut = new double[_n];
        _copiesFrom = new int[_n];
        _alive = [.. Enumerable.Repeat(true, _n)];
        _inSync = [.. Enumerable.Repeat(true, _n)];
        _lost = new bool[_n];
        _slow = [.. Enumerable.Repeat(1.0, _n)];
        _downSince = new double[_n];
        _version = new long[_n];
        _pending = new bool[_n];
        _gained = [.. Enumerable.Range(0, _n).Select(_ => new List<int>())];
    }

    private enum Kind
    {
        Fail,
        Restart,
        CaughtUp,
        Check,
        Tick,
        OverloadFail,
        Heal,
        CopyDone,
        SlowEnd,
        RollingNext,
        End,
    }

    /// <summary>
    /// Plays only the instant of the failure (the brokers it takes at once and the elections that follow) and returns
    /// what each broker (by index) has reserved then, by resource: what a drill's survivors show once leadership has
    /// moved, before any replica is re-created.
    /// </summary>
    public IReadOnlyList<double[]> Failover()
    {
        var start = _scenario.AtHours;
        Inject(start);
        while (_events.TryPeek(out var e, out var key) && key.Item1 <= start)
        {
            _events.Dequeue();
            if (e.Kind == Kind.Fail)
            {
                Fail(e.Broker, start, e.Hours);
            }
        }

        return [.. Enumerable.Range(0, _n).Select(b => _reserved.AsSpan(b * R, R).ToArray())];
    }

    /// <summary>Plays the failure out.</summary>
    public ScenarioResult Run()
    {
        var start = _scenario.AtHours;
        Inject(start);
        Schedule(start + Horizon, Kind.End);
        Schedule(start, Kind.Check);
        while (_events.TryDequeue(out var e, out var key))
        {
            var t = key.Item1;

            // With more than half the fleet down at once it has collapsed: nothing it does after counts, and what is
            // unavailable stays so to the end of the run.
            if (e.Kind == Kind.End || _down > _n / 2)
            {
                foreach (var since in _offline.Values)
                {
                    _unavailable += start + Horizon - since;
                }

                return new ScenarioResult(_lost.Count(l => l), _overloads, _unavailable, [.. _peak]);
            }

            switch (e.Kind)
            {
                case Kind.Fail:
                    Fail(e.Broker, t, e.Hours);
                    break;
                case Kind.Restart:
                    Restart(e.Broker, t);
                    break;
                case Kind.CaughtUp:
                    CaughtUp(e.Broker, t);
                    break;
                case Kind.Check:
                    Check(t);
                    break;
                case Kind.Tick:
                    Check(t);
                    Schedule(t + Tick, Kind.Tick);
                    break;
                case Kind.OverloadFail when _alive[e.Broker] && _pending[e.Broker] && _version[e.Broker] == e.Version:
                    // A slow broker that fails of its own slowness is the failure injected, not a cascade.
                    _overloads += _scenario.Kind == FailureKind.Slow && e.Broker == _scenario.Brokers[0] ? 0 : 1;
                    Fail(e.Broker, t, OverloadRestart);
                    break;
                case Kind.Heal:
                    Heal(t);
                    break;
                case Kind.CopyDone when _copies.TryGetValue(e.Partition, out var copy) && copy.Id == e.Version:
                    Finish(e.Partition, copy);
                    break;
                case Kind.SlowEnd:
                    _slow[e.Broker] = 1;
                    break;
                case Kind.RollingNext:
                    RollingNext(e.Broker, t);
                    break;
                default:
                    break;
            }
        }

        throw new InvalidOperationException("The run ended without its end event.");
    }

    private void Inject(double t)
    {
        var brokers = _scenario.Brokers;
        switch (_scenario.Kind)
        {
            case FailureKind.Slow:
                _slow[brokers[0]] = 0.5;
                Schedule(t + 2, Kind.SlowEnd, brokers[0]);
                break;
            case FailureKind.Pair:
                Schedule(t, Kind.Fail, brokers[0], _scenario.RepairHours[0]);
                Schedule(t + (1 / 60.0), Kind.Fail, brokers[1], _scenario.RepairHours[1]);
                break;
            case FailureKind.RollingRestart:
                Schedule(t, Kind.Fail, brokers[0], _scenario.RepairHours[0]);
                Schedule(t + (10 / 60.0), Kind.RollingNext, 1);
                break;
            default:
                for (var k = 0; k < brokers.Length; k++)
                {
                    Schedule(t, Kind.Fail, brokers[k], _scenario.RepairHours[k]);
                }

                break;
        }

        Schedule(t + Tick, Kind.Tick);
    }

    // The rolling restart's k-th broker goes down for five minutes; the next follows once it has caught up.
    private void RollingNext(int k, double t)
    {
        if (k >= _scenario.Brokers.Length)
        {
            return;
        }

        var broker = _scenario.Brokers[k];
        if (_alive[broker])
        {
            Fail(broker, t, 5 / 60.0);
        }

        Schedule(t + (5 / 60.0) + CatchUp + (1 / 60.0), Kind.RollingNext, k + 1);
    }

    private void Fail(int b, double t, double repair)
    {
        if (!_alive[b])
        {
            return;
        }

        _alive[b] = false;
        _down++;
        _inSync[b] = false;
        _lost[b] = true;
        _pending[b] = false;
        _version[b]++;
        _downSince[b] = t;
        foreach (var (partition, copy) in _copies.Where(c => c.Value.Leader == b || c.Value.Target == b).ToList())
        {
            Abort(partition, copy);
        }

        foreach (var p in PartitionsOf(b))
        {
            if (Leader(p) != b + 1)
            {
                continue;
            }

            MoveLeadership(p, b, -1);
            var next = PartitionLeadership.FirstInSync(Replicas(p), Replicas(p), id => _inSync[id - 1]);
            _leaders[p] = next;
            if (next > 0)
            {
                MoveLeadership(p, next - 1, +1);
            }
            else
            {
                _offline[p] = t;
            }
        }

        Schedule(t + repair, Kind.Restart, b);
        CheckSoon(t);
        if (_policy.Healing)
        {
            Schedule(t + HealingDelay, Kind.Heal);
        }
    }

    private void Restart(int b, double t)
    {
        _alive[b] = true;
        _down--;

        // A partition with no live in-sync replica is led again by the first of its replicas to come back: the last in
        // its ISR (an ISR never shrinks below one).
        foreach (var p in PartitionsOf(b))
        {
            if (Leader(p) < 0 && _offline.Remove(p, out var since))
            {
                _unavailable += t - since;
                _leaders[p] = b + 1;
                MoveLeadership(p, b, +1);
            }
        }

        Schedule(t + CatchUp, Kind.CaughtUp, b);
        CheckSoon(t);
    }

    // Back in every ISR: Kafka's preferred leader election gives it back the partitions it leads first.
    private void CaughtUp(int b, double t)
    {
        if (!_alive[b])
        {
            return;
        }

        _inSync[b] = true;
        foreach (var p in PartitionsOf(b))
        {
            var leader = Leader(p);
            if (Replicas(p)[0] == b + 1 && leader != b + 1 && leader > 0)
            {
                MoveLeadership(p, leader - 1, -1);
                _leaders[p] = b + 1;
                MoveLeadership(p, b, +1);
            }
        }

        CheckSoon(t);
    }

    private void Check(double t)
    {
        var day = _demand.At(t);
        Span<double> scale = [1, 1, day, day, 0.6 + (0.4 * day)];
        var limits = _workload.Limits;
        for (var b = 0; b < _n; b++)
        {
            if (!_alive[b])
            {
                continue;
            }

            var over = double.MaxValue;
            for (var r = 0; r < R; r++)
            {
                var load = (_carried[(b * R) + r] * scale[r]) + (r == 2 ? _copyIn[b] : r == 3 ? _copyOut[b] : 0);
                var limit = limits[(CapacityResource)r];
                _peak[r] = Math.Max(_peak[r], load / limit);
                if (load > limit * _slow[b])
                {
                    over = Math.Min(over, OverloadDelay[r]);
                }
            }

            if (over < double.MaxValue && !_pending[b])
            {
                _pending[b] = true;
                Schedule(t + over, Kind.OverloadFail, b, version: ++_version[b]);
            }
            else if (over == double.MaxValue && _pending[b])
            {
                _pending[b] = false;
                _version[b]++;
            }
        }

    }

    private void CheckSoon(double t)
    {
        if (_checkAt != t)
        {
            _checkAt = t;
            Schedule(t, Kind.Check);
        }
    }

    private void Heal(double t)
    {
        if (_healAt >= t)
        {
            return;
        }

        var down = Enumerable.Range(0, _n).Where(b => !_alive[b]).Select(b => b + 1).ToList();
        if (down.Count == 0)
        {
            return;
        }

        _healAt = t + HealTick;
        Schedule(_healAt, Kind.Heal);
        if (Healing.Paused(down) is not null || t - _downSince[down[0] - 1] < HealingDelay - 1e-9)
        {
            return;
        }

        var failed = down[0] - 1;
        var room = MaxInFlight - _copies.Count;
        var limits = _workload.Limits;
        var survivors = Enumerable.Range(1, _n).Where(id => _alive[id - 1]).ToList();
        var step = new List<(int Partition, int Target)>();
        var adding = new Dictionary<int, double[]>();
        foreach (var p in PartitionsOf(failed))
        {
            if (step.Count >= room)
            {
                break;
            }

            if (_copies.ContainsKey(p) || Leader(p) < 0)
            {
                continue;
            }

            var replicas = Replicas(p);
            var target = Healing.Target([.. replicas], failed + 1, survivors, id => _workload.Brokers[id - 1].Rack, id => (Reserved(id - 1, CapacityResource.Partitions) + Gaining(id - 1, adding)) / limits.Partitions);
            if (target < 0)
            {
                continue;
            }

            if (!adding.TryGetValue(target - 1, out var extra))
            {
                adding[target - 1] = extra = new double[R];
            }

            CapacityLedger.AddReplica(extra, Tenant(p).Load);
            for (var r = 0; r < R; r++)
            {
                // A step that would take a survivor over its bound (limit less margin) is not taken at all.
                if (Reserved(target - 1, (CapacityResource)r) + extra[r] > (limits[(CapacityResource)r] * (1 - _margin)) + 1e-6)
                {
                    return;
                }
            }

            step.Add((p, target - 1));
        }

        foreach (var (p, target) in step)
        {
            Start(p, target, t);
        }
    }

    // What broker b has reserved, counting the replicas being copied to it (the controller has already placed them).
    private double Reserved(int b, CapacityResource r) => _reserved[(b * R) + (int)r] + _incoming[(b * R) + (int)r];

    private static double Gaining(int b, Dictionary<int, double[]> adding) =>
        adding.TryGetValue(b, out var extra) ? extra[(int)CapacityResource.Partitions] : 0;

    private void Start(int p, int target, double t)
    {
        var leader = Leader(p) - 1;
        var limit = (double)_workload.Limits.BytesOutPerSec;
        var rate = _policy.Throttled
            ? Math.Max(limit * _margin / 2, 1 << 20) / (_copiesFrom[leader] + 1)
            : limit / 2;
        var copy = new Copy(++_sequence, leader, target, rate);
        _copies[p] = copy;
        _copiesFrom[leader]++;
        _copyOut[leader] += rate;
        _copyIn[target] += rate;
        Incoming(p, target, +1);
        Schedule(t + (Tenant(p).Used.DiskBytes / rate / 3600), Kind.CopyDone, partition: p, version: copy.Id);
        CheckSoon(t);
    }

    private void Abort(int p, Copy copy)
    {
        _copies.Remove(p);
        _copiesFrom[copy.Leader]--;
        _copyOut[copy.Leader] -= copy.Rate;
        _copyIn[copy.Target] -= copy.Rate;
        Incoming(p, copy.Target, -1);
    }

    private void Incoming(int p, int b, int sign)
    {
        Span<double> reserved = stackalloc double[R];
        CapacityLedger.AddReplica(reserved, Tenant(p).Load);
        for (var r = 0; r < R; r++)
        {
            _incoming[(b * R) + r] += sign * reserved[r];
        }
    }

    // The copy is in sync: the partition's replica on the failed broker is now on the target.
    private void Finish(int p, Copy copy)
    {
        Abort(p, copy);
        var replicas = Replicas(p).ToArray();
        var failed = Array.FindIndex(replicas, id => !_alive[id - 1]);
        if (failed < 0)
        {
            return;
        }

        MoveReplica(p, replicas[failed] - 1, -1);
        replicas[failed] = copy.Target + 1;
        _healed[p] = replicas;
        _gained[copy.Target].Add(p);
        MoveReplica(p, copy.Target, +1);
    }

    private SimulatedTenant Tenant(int p) => _workload.Tenants[_fleet.TenantOf[p]];

    private ReadOnlySpan<int> Replicas(int p) => _healed.TryGetValue(p, out var healed) ? healed : _fleet.Replicas.AsSpan(p * _rf, _rf);

    private int Leader(int p) => _leaders.TryGetValue(p, out var leader) ? leader : _fleet.Replicas[p * _rf];

    // The partitions broker b hosts now: those placed on it, and those healing gave it, less those healing took away.
    private IEnumerable<int> PartitionsOf(int b)
    {
        for (var k = _fleet.HostedStart[b]; k < _fleet.HostedStart[b + 1]; k++)
        {
            var p = _fleet.Hosted[k];
            if (Replicas(p).Contains(b + 1))
            {
                yield return p;
            }
        }

        foreach (var p in _gained[b])
        {
            if (Replicas(p).Contains(b + 1))
            {
                yield return p;
            }
        }
    }

    private void MoveLeadership(int p, int b, int sign)
    {
        var tenant = Tenant(p);
        Span<double> reserved = stackalloc double[R];
        Span<double> carried = stackalloc double[R];
        CapacityLedger.AddLeadership(reserved, tenant.Load, _rf);
        CapacityLedger.AddLeadership(carried, tenant.Used, _rf);
        Apply(b, reserved, carried, sign);
    }

    private void MoveReplica(int p, int b, int sign)
    {
        var tenant = Tenant(p);
        Span<double> reserved = stackalloc double[R];
        Span<double> carried = stackalloc double[R];
        CapacityLedger.AddReplica(reserved, tenant.Load);
        CapacityLedger.AddReplica(carried, tenant.Used);
        Apply(b, reserved, carried, sign);
    }

    private void Apply(int b, ReadOnlySpan<double> reserved, ReadOnlySpan<double> carried, int sign)
    {
        for (var r = 0; r < R; r++)
        {
            _reserved[(b * R) + r] += sign * reserved[r];
            _carried[(b * R) + r] += sign * carried[r];
        }
    }

    private void Schedule(double t, Kind kind, int broker = -1, double hours = 0, int partition = -1, long version = 0) =>
        _events.Enqueue(new Event(kind, broker, hours, partition, version), (t, ++_sequence));

    private readonly record struct Event(Kind Kind, int Broker, double Hours, int Partition, long Version);

    private sealed record Copy(long Id, int Leader, int Target, double Rate);
}
