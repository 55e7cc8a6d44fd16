namespace Levee.Broker.Replication;

/// <summary>
/// KIP-73's leader-side replication throttle, applied to replicas catching up: the bytes this leader sends to
/// followers that are not in their partition's ISR (a new replica being filled by self-healing or a reassignment, or
/// one far behind after a restart) are at most <c>leader.replication.throttled.rate</c> per second, a token bucket
/// holding one second's worth; in-sync replication is never throttled, so acks=all latency is untouched. The default
/// is half the headroom every broker keeps: <c>broker.capacity.bytes.out.per.sec</c> x <c>headroom.margin</c> / 2.
/// </summary>
public sealed class ReplicationThrottle
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private double _tokens;
    private long _lastMs;

    /// <summary>A throttle of <c>leader.replication.throttled.rate</c> as <paramref name="options"/> set or derive it.</summary>
    public ReplicationThrottle(BrokerOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _time = time;
        RateBytesPerSec = options.LeaderReplicationThrottledRate
            ?? Math.Max(1L << 20, (long)(options.ResolveCapacity().BytesOutPerSec * options.HeadroomMargin / 2));
        _tokens = RateBytesPerSec;
        _lastMs = time.GetUtcNow().ToUnixTimeMilliseconds();
    }

    /// <summary>The rate, bytes per second.</summary>
    public long RateBytesPerSec { get; }

    /// <summary>How many bytes may be sent to a catching-up follower now (0: none until the bucket refills).</summary>
    public int Available()
    {
        lock (_lock)
        {
            Refill();
            return (int)Math.Clamp(_tokens, 0, int.MaxValue);
        }
    }

    /// <summary>Counts <paramref name="bytes"/> sent to a catching-up follower (a whole batch may overdraw the bucket).</summary>
    public void Take(long bytes)
    {
        lock (_lock)
        {
            Refill();
            _tokens -= bytes;
        }
    }

    private void Refill()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _tokens = Math.Min(RateBytesPerSec, _tokens + (RateBytesPerSec * Math.Max(0, now - _lastMs) / 1000.0));
        _lastMs = now;
    }
}
