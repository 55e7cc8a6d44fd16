namespace Levee.Broker.Quotas;

/// <summary>
/// Kafka's quota measurement (a Rate over a SampledStat, as its ClientQuotaManager uses): <c>quota.window.num</c>
/// samples of <c>quota.window.size.seconds</c> each. The rate is the sum of the live samples over the time they
/// span, counted as at least <c>num - 1</c> whole windows, so a new client cannot burst to many times its quota in
/// its first second; a client over its quota is throttled for <c>(rate - quota) / quota x span</c>, the time after
/// which its rate is back at the quota if it sends nothing more. Thread-safe; one lock per entity.
/// </summary>
public sealed class QuotaWindow
{
    private readonly long _windowMs;
    private readonly long[] _starts;
    private readonly double[] _values;
    private readonly Lock _lock = new();
    private int _current;
    private double _tokens;
    private long _tokensAtMs = -1;

    /// <summary>A measurement of <paramref name="samples"/> windows of <paramref name="windowMs"/> each, starting at <paramref name="nowMs"/>.</summary>
    public QuotaWindow(int samples, long windowMs, long nowMs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowMs, 1);
        _windowMs = windowMs;
        _starts = new long[samples];
        _values = new double[samples];
        Array.Fill(_starts, nowMs);
        LastRecordMs = nowMs;
    }

    /// <summary>When a value was last recorded, in Unix milliseconds (idle measurements are dropped).</summary>
    public long LastRecordMs { get; private set; }

    /// <summary>
    /// Adds <paramref name="value"/> (negative to take back what was recorded) and returns how long the entity is to
    /// be throttled for being over <paramref name="quota"/> per second, at most <paramref name="maxThrottleMs"/>; 0 when
    /// it is within it.
    /// </summary>
    public long Record(double value, double quota, long nowMs, long maxThrottleMs)
    {
        lock (_lock)
        {
            Advance(nowMs);
            _values[_current] += value;
            LastRecordMs = nowMs;
            return ThrottleMs(quota, nowMs, maxThrottleMs);
        }
    }

    /// <summary>
    /// Records <paramref name="value"/> only if the entity may send now, in one step, so that of many requests waiting
    /// for it exactly one is admitted each time it may. Admission is a token bucket filled at <paramref name="quota"/>
    /// per second and holding one window's worth: the windows' rate lets a client that was idle for the whole span
    /// send the span's worth at once, and again each time the sample that held that burst expires (a burst of eleven
    /// seconds' worth every eleven seconds), while the bucket admits the quota's rate evenly, a request at most one
    /// window's worth early. The value is recorded in the windows too, for <see cref="Rate"/>. Returns 0 when admitted
    /// (then <paramref name="throttleAfterMs"/> is how long until the next may be), else how long to wait.
    /// </summary>
    public long TryRecord(double value, double quota, long nowMs, long maxThrottleMs, out long throttleAfterMs)
    {
        lock (_lock)
        {
            Advance(nowMs);
            var burst = quota * _windowMs / 1000.0;
            _tokens = _tokensAtMs < 0 ? burst : Math.Min(burst, _tokens + (quota * Math.Max(0, nowMs - _tokensAtMs) / 1000.0));
            _tokensAtMs = nowMs;
            if (_tokens < 0)
            {
                throttleAfterMs = WaitMs(quota, maxThrottleMs);
                return throttleAfterMs;
            }

            _tokens -= value;
            _values[_current] += value;
            LastRecordMs = nowMs;
            throttleAfterMs = _tokens < 0 ? WaitMs(quota, maxThrottleMs) : 0;
            return 0;
        }
    }

    /// <summary>The throttle time for being over <paramref name="quota"/> now, without recording anything.</summary>
    public long Check(double quota, long nowMs, long maxThrottleMs)
    {
        lock (_lock)
        {
            Advance(nowMs);
            return ThrottleMs(quota, nowMs, maxThrottleMs);
        }
    }

    /// <summary>The measured rate per second.</summary>
    public double Rate(long nowMs)
    {
        lock (_lock)
        {
            Advance(nowMs);
            return Total() / (SpanMs(nowMs) / 1000.0);
        }
    }

    // The time until the bucket is no longer in debt, at least 1 ms.
    private long WaitMs(double quota, long maxThrottleMs) => (long)Math.Clamp(Math.Ceiling(-_tokens / quota * 1000), 1, maxThrottleMs);

    private long ThrottleMs(double quota, long nowMs, long maxThrottleMs)
    {
        var span = SpanMs(nowMs);
        var rate = Total() / (span / 1000.0);
        if (rate <= quota)
        {
            return 0;
        }

        var throttle = (rate - quota) / quota * span;
        return (long)Math.Min(Math.Ceiling(throttle), maxThrottleMs);
    }

    // Moves to a new sample when the current one is a window old, and forgets samples older than all of them together.
    private void Advance(long nowMs)
    {
        var expireAge = _windowMs * _starts.Length;
        for (var i = 0; i < _starts.Length; i++)
        {
            if (nowMs - _starts[i] >= expireAge)
            {
                _starts[i] = nowMs;
                _values[i] = 0;
            }
        }

        if (nowMs - _starts[_current] >= _windowMs)
        {
            _current = (_current + 1) % _starts.Length;
            _starts[_current] = nowMs;
            _values[_current] = 0;
        }
    }

    private double Total()
    {
        double total = 0;
        foreach (var value in _values)
        {
            total += value;
        }

        return Math.Max(0, total);
    }

    // The time the samples span, padded to at least samples - 1 whole windows (Kafka's Rate.windowSize).
    private long SpanMs(long nowMs)
    {
        var elapsed = nowMs - _starts.Min();
        var fullWindows = elapsed / _windowMs;
        var minimum = _starts.Length - 1;
        return fullWindows < minimum ? elapsed + ((minimum - fullWindows) * _windowMs) : elapsed;
    }
}
