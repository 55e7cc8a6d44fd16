using System.Collections.Concurrent;
using System.Collections.Immutable;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Quotas;

/// <summary>
/// One kind of client quota on this broker (produce bytes, fetch bytes, controller mutations), as Kafka's
/// ClientQuotaManager keeps it: the quota of a (user, client id) pair is the most specific one configured, in Kafka's
/// order (user and client id, user and default client, user, default user and client id, default user and default
/// client, default user, client id, default client), and all the clients it covers share one measurement: a quota
/// set on a user is shared by every client id of that user. Without a quota nothing is measured or throttled.
/// </summary>
public sealed class ClientQuotaManager
{
    private const int MaxCachedClients = 100_000;
    private static readonly TimeSpan IdleExpiry = TimeSpan.FromHours(1);

    private readonly QuotaSettings _settings;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string User, string ClientId), QuotaWindow> _windows = new();
    private ResolvedQuotas _resolved = new(ImmutableSortedDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>>.Empty);
    private long _nextSweepMs;

    /// <summary>The quota key this manager enforces (<c>producer_byte_rate</c>, ...), also a plan's limit of that name.</summary>
    public string Key { get; }

    /// <summary>A manager of the quota named <paramref name="key"/> (e.g. <c>producer_byte_rate</c>).</summary>
    public ClientQuotaManager(string key, QuotaSettings settings, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Key = key;
        _settings = settings;
        _time = time;
    }

    /// <summary>
    /// The quota that applies to <paramref name="user"/> with <paramref name="clientId"/> under <paramref name="quotas"/>,
    /// and the measurement it is counted in; null when none applies.
    /// </summary>
    public AppliedQuota? Find(ImmutableSortedDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>> quotas, string user, string clientId)
    {
        ArgumentNullException.ThrowIfNull(quotas);
        var resolved = _resolved;
        if (!ReferenceEquals(resolved.Quotas, quotas))
        {
            resolved = new ResolvedQuotas(quotas);
            _resolved = resolved;
        }

        // Client ids are chosen by clients: the cache of answers is dropped rather than grown without bound.
        if (resolved.Cache.Count > MaxCachedClients)
        {
            resolved.Cache.Clear();
        }

        return resolved.Cache.GetOrAdd((user, clientId), static (key, state) => state.Manager.Resolve(state.Quotas, key.User, key.ClientId), (Manager: this, Quotas: quotas));
    }

    /// <summary>Records <paramref name="value"/> against <paramref name="quota"/>; returns the throttle time in ms (0: within the quota).</summary>
    public long Record(AppliedQuota quota, double value)
    {
        ArgumentNullException.ThrowIfNull(quota);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        SweepIdle(now);
        var window = _windows.GetOrAdd(quota.Measured, static (_, state) => new QuotaWindow(state.Samples, state.WindowMs, state.Now), (_settings.Samples, _settings.WindowMs, Now: now));
        return window.Record(value, quota.Limit, now, _settings.MaxThrottleMs);
    }

    /// <summary>
    /// Records <paramref name="value"/> against <paramref name="quota"/> if its clients are within it now; returns 0 when
    /// recorded (<paramref name="throttleAfterMs"/>: the throttle time that leads to), else how long to wait first.
    /// </summary>
    public long TryRecord(AppliedQuota quota, double value, out long throttleAfterMs)
    {
        ArgumentNullException.ThrowIfNull(quota);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        SweepIdle(now);
        var window = _windows.GetOrAdd(quota.Measured, static (_, state) => new QuotaWindow(state.Samples, state.WindowMs, state.Now), (_settings.Samples, _settings.WindowMs, Now: now));
        return window.TryRecord(value, quota.Limit, now, _settings.MaxThrottleMs, out throttleAfterMs);
    }

    /// <summary>The largest value a single request may take under <paramref name="quota"/> (Kafka: the quota over the measured windows).</summary>
    public long MaxValueInWindow(AppliedQuota quota)
    {
        ArgumentNullException.ThrowIfNull(quota);
        return (long)Math.Min(long.MaxValue / 2, quota.Limit * (_settings.Samples - 1) * _settings.WindowMs / 1000.0);
    }

    /// <summary>The measured rate per second of the clients <paramref name="quota"/> covers (0 before anything was recorded).</summary>
    public double Rate(AppliedQuota quota)
    {
        ArgumentNullException.ThrowIfNull(quota);
        return _windows.TryGetValue(quota.Measured, out var window) ? window.Rate(_time.GetUtcNow().ToUnixTimeMilliseconds()) : 0;
    }

    private AppliedQuota? Resolve(ImmutableSortedDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>> quotas, string user, string clientId)
    {
        var named = new QuotaEntityName(user);
        var client = new QuotaEntityName(clientId);
        var byDefault = QuotaEntityName.Default;

        // Kafka's precedence; the second pair is the measurement the quota is shared in.
        ReadOnlySpan<(ClientQuotaEntity Entity, bool ByUser, bool ByClient)> order =
        [
            (new(named, client, null), true, true),
            (new(named, byDefault, null), true, true),
            (new(named, null, null), true, false),
            (new(byDefault, client, null), true, true),
            (new(byDefault, byDefault, null), true, true),
            (new(byDefault, null, null), true, false),
            (new(null, client, null), false, true),
            (new(null, byDefault, null), false, true),
        ];
        foreach (var (entity, byUser, byClient) in order)
        {
            if (quotas.TryGetValue(entity, out var values) && values.TryGetValue(Key, out var limit))
            {
                return new AppliedQuota(entity, limit, (byUser ? user : "", byClient ? clientId : ""));
            }
        }

        return null;
    }

    // Measurements of clients gone for an hour are dropped (Kafka expires its quota sensors the same way), so
    // clients that come and go with new ids cannot grow the broker's memory.
    private void SweepIdle(long now)
    {
        if (now < Volatile.Read(ref _nextSweepMs))
        {
            return;
        }

        Volatile.Write(ref _nextSweepMs, now + (long)TimeSpan.FromMinutes(1).TotalMilliseconds);
        foreach (var (key, window) in _windows)
        {
            if (now - window.LastRecordMs > IdleExpiry.TotalMilliseconds)
            {
                _windows.TryRemove(key, out _);
            }
        }
    }

    private sealed class ResolvedQuotas(ImmutableSortedDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>> quotas)
    {
        public ImmutableSortedDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>> Quotas { get; } = quotas;

        public ConcurrentDictionary<(string User, string ClientId), AppliedQuota?> Cache { get; } = new();
    }
}

/// <summary>A quota that applies to a client.</summary>
/// <param name="Entity">The configured entity it comes from.</param>
/// <param name="Limit">The limit per second.</param>
/// <param name="Measured">The (user, client id) measurement it is counted in; empty parts are shared.</param>
public sealed record AppliedQuota(ClientQuotaEntity Entity, double Limit, (string User, string ClientId) Measured);

/// <summary>Kafka's quota measurement settings.</summary>
/// <param name="Samples"><c>quota.window.num</c> (Kafka's default 11).</param>
/// <param name="WindowMs"><c>quota.window.size.seconds</c> in milliseconds (Kafka's default 1 s).</param>
public sealed record QuotaSettings(int Samples, long WindowMs)
{
    /// <summary>The whole measured span: all samples together.</summary>
    public long SpanMs => Samples * WindowMs;

    /// <summary>The longest throttle a client is given at once: the whole measured span.</summary>
    public long MaxThrottleMs => SpanMs;
}
