namespace Levee.Broker.Network;

/// <summary>Which deadline closed a connection (<see cref="ConnectionDeadlines.Expired"/>).</summary>
public enum ConnectionDeadline
{
    /// <summary>None did.</summary>
    None,

    /// <summary><c>connections.max.idle.ms</c>: the connection was idle that long.</summary>
    Idle,

    /// <summary><c>request.arrival.timeout.ms</c>: a request started arriving and did not finish within it.</summary>
    Arrival,
}

/// <summary>
/// The deadlines one connection is held to while it is the client's turn: between requests it may stay idle for
/// <c>connections.max.idle.ms</c>, and once a request has started arriving, all of it must come within
/// <c>request.arrival.timeout.ms</c>, however steadily its bytes trickle in. While it is the broker's turn (a request
/// being handled, a long-poll fetch or a quota's throttle included, or a frame waiting for the request memory
/// budget, which is back-pressure and not a slow client) no deadline runs. <see cref="Token"/> is cancelled when one
/// passes.
/// </summary>
/// <remarks>
/// The connection's read loop only records turns and times, a timestamp and two stores per read; one timer per
/// connection wakes at the earliest deadline that may have passed, checks what the loop recorded, and either expires
/// the connection or sleeps until the deadline now in force. A busy connection thus costs one timer callback per
/// idle period, not a timer change per read. Only a request that starts arriving takes the lock, to pull the timer
/// in to its arrival deadline.
/// </remarks>
public sealed class ConnectionDeadlines : IDisposable
{
    // The longest the timer is set for at once, in milliseconds: a later deadline is reached in steps (a timer's own
    // limit is about 49 days).
    private const long LongestWaitMs = 24 * 60 * 60 * 1000;

    private const int ClientIdle = 0;
    private const int RequestArriving = 1;
    private const int BrokersTurn = 2;

    private readonly TimeProvider _time;
    private readonly long _idle;
    private readonly long _arrival;
    private readonly long _longestWait;
    private readonly ITimer _timer;
    private readonly CancellationTokenSource _expiry = new();
    private readonly Lock _lock = new();

    // Written by the read loop, read by the timer: whose turn it is, when the connection last became idle, and when
    // the request now arriving started to.
    private int _turn;
    private long _idleSince;
    private long _arrivingSince;

    // Under _lock: the timestamp the timer is set for, and whether this is disposed (the timer then does nothing).
    private long _due;
    private bool _disposed;

    /// <summary>Deadlines starting now, with the connection idle.</summary>
    /// <param name="time">The clock.</param>
    /// <param name="idleMs"><c>connections.max.idle.ms</c>, positive.</param>
    /// <param name="arrivalMs"><c>request.arrival.timeout.ms</c>, positive.</param>
    public ConnectionDeadlines(TimeProvider time, long idleMs, long arrivalMs)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(idleMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(arrivalMs);
        _time = time;
        _idle = ToTimestampUnits(idleMs, time.TimestampFrequency);
        _arrival = ToTimestampUnits(arrivalMs, time.TimestampFrequency);
        _longestWait = ToTimestampUnits(LongestWaitMs, time.TimestampFrequency);
        _timer = time.CreateTimer(static self => ((ConnectionDeadlines)self!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var now = time.GetTimestamp();
        _idleSince = now;
        lock (_lock)
        {
            Arm(now + _idle, now);
        }
    }

    /// <summary>Cancelled when a deadline passes.</summary>
    public CancellationToken Token => _expiry.Token;

    /// <summary>The deadline that passed, once <see cref="Token"/> is cancelled.</summary>
    public ConnectionDeadline Expired { get; private set; }

    /// <summary>The client's turn, with nothing of its next request in: the idle clock starts now.</summary>
    public void Idle()
    {
        Volatile.Write(ref _idleSince, _time.GetTimestamp());
        Volatile.Write(ref _turn, ClientIdle);
    }

    /// <summary>Part of a request is in: its arrival clock starts now, unless it was already running for this request.</summary>
    public void Arriving()
    {
        if (_turn == RequestArriving)
        {
            return;
        }

        var now = _time.GetTimestamp();
        lock (_lock)
        {
            _arrivingSince = now;
            Volatile.Write(ref _turn, RequestArriving);
            var deadline = now + _arrival;
            if (!_disposed && deadline < _due)
            {
                Arm(deadline, now);
            }
        }
    }

    /// <summary>The broker's turn (a request handled, a frame waiting for memory, a throttle): no clock runs.</summary>
    public void Busy() => Volatile.Write(ref _turn, BrokersTurn);

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
        }

        _timer.Dispose();
        _expiry.Dispose();
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            if (_disposed || Expired != ConnectionDeadline.None)
            {
                return;
            }

            var now = _time.GetTimestamp();
            var (deadline, kind) = Volatile.Read(ref _turn) switch
            {
                // The idle clock starts again when the broker is done, so no deadline can pass before this.
                BrokersTurn => (now + _idle, ConnectionDeadline.None),
                RequestArriving => (Volatile.Read(ref _arrivingSince) + _arrival, ConnectionDeadline.Arrival),
                _ => (Volatile.Read(ref _idleSince) + _idle, ConnectionDeadline.Idle),
            };
            if (kind != ConnectionDeadline.None && now >= deadline)
            {
                Expired = kind;
                _expiry.Cancel();
                return;
            }

            Arm(deadline, now);
        }
    }

    // Under _lock: the timer fires at the deadline, or after LongestWait if that comes first.
    private void Arm(long deadline, long now)
    {
        _due = Math.Min(deadline, now + _longestWait);
        var ms = Math.Max(1, Math.Ceiling((_due - now) * 1000.0 / _time.TimestampFrequency));
        _timer.Change(TimeSpan.FromMilliseconds(ms), Timeout.InfiniteTimeSpan);
    }

    // Milliseconds in the clock's units, saturating far beyond any connection's life (a huge setting means "never").
    private static long ToTimestampUnits(long ms, long frequency)
    {
        var seconds = ms / 1000;
        return seconds > long.MaxValue / 4 / frequency ? long.MaxValue / 4 : (seconds * frequency) + (ms % 1000 * frequency / 1000);
    }
}
