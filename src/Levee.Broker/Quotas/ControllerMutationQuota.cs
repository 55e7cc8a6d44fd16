using System.Collections.Concurrent;
using Levee.Broker.Requests;
using Levee.Protocol;

namespace Levee.Broker.Quotas;

/// <summary>
/// KIP-599's controller mutation quota: the partitions a (user, client id) creates or deletes per second
/// (<c>controller_mutation_rate</c>), with Kafka's token bucket: a client may mutate up to the quota's worth of the
/// whole measured span (<c>quota.window.num x quota.window.size.seconds</c>) at once, then at the quota's rate. With
/// CreateTopics v6+, CreatePartitions v3+ and DeleteTopics v5+ (strict) a topic asked while the bucket is empty is
/// refused with THROTTLING_QUOTA_EXCEEDED and nothing of it happens; older versions are served and only throttled.
/// Either way the answer carries the time until the bucket is no longer empty, and the connection is muted for it.
/// An admin storm from one client thus costs the controller a bounded number of mutations per second.
/// </summary>
public sealed class ControllerMutationQuota
{
    /// <summary>Kafka's message for a topic refused by the quota.</summary>
    public const string ExceededMessage = "The throttling quota has been exceeded.";

    private readonly BrokerQuotas _quotas;
    private readonly TimeProvider _time;
    private readonly double _burstSeconds;
    private readonly ConcurrentDictionary<(string User, string ClientId), Bucket> _buckets = new();

    /// <summary>The quota <paramref name="quotas"/> finds for a client.</summary>
    public ControllerMutationQuota(BrokerQuotas quotas, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(quotas);
        _quotas = quotas;
        _time = time;
        _burstSeconds = quotas.Settings.SpanMs / 1000.0;
    }

    /// <summary>
    /// Asks to mutate <paramref name="partitions"/> partitions for the sender of <paramref name="context"/>: null when
    /// it may (and they are counted), THROTTLING_QUOTA_EXCEEDED when <paramref name="strict"/> and its bucket is
    /// empty. Sets the request's throttle time when the bucket is (now) empty.
    /// </summary>
    public ErrorCode? TryMutate(RequestContext context, int partitions, bool strict)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_quotas.Find(_quotas.ControllerMutation, context) is not { } quota)
        {
            return null;
        }

        // Client ids are chosen by clients: a quota on the default client id must not grow the broker without bound.
        if (_buckets.Count > 100_000)
        {
            _buckets.Clear();
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var bucket = _buckets.GetOrAdd(quota.Measured, static (_, state) => new Bucket(state.Burst, state.Now), (Burst: quota.Limit * _burstSeconds, Now: now));
        var (admitted, throttleMs) = bucket.Take(partitions, quota.Limit, quota.Limit * _burstSeconds, strict, now);
        context.ThrottleTimeMs = Math.Max(context.ThrottleTimeMs, throttleMs);
        return admitted ? null : ErrorCode.ThrottlingQuotaExceeded;
    }

    private sealed class Bucket(double tokens, long lastMs)
    {
        private readonly Lock _lock = new();
        private double _tokens = tokens;
        private long _lastMs = lastMs;

        public (bool Admitted, int ThrottleMs) Take(int partitions, double rate, double burst, bool strict, long nowMs)
        {
            lock (_lock)
            {
                _tokens = Math.Min(burst, _tokens + (rate * Math.Max(0, nowMs - _lastMs) / 1000.0));
                _lastMs = nowMs;
                var admitted = !(strict && _tokens < 0);
                if (admitted)
                {
                    _tokens -= partitions;
                }

                return (admitted, _tokens < 0 ? (int)Math.Ceiling(-_tokens / rate * 1000) : 0);
            }
        }
    }
}
