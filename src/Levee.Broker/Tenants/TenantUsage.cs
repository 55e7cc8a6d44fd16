using System.Collections.Concurrent;
using System.Globalization;
using Levee.Broker.Partitions;
using Levee.Broker.Quotas;
using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Tenants;

/// <summary>
/// What each tenant uses on this broker: the bytes its partitions led here store, its byte rates in and out, its open
/// connections and how long its requests were held back; and the storage limit of its plan, which refuses its Produce
/// requests once its stored bytes reach it.
/// </summary>
public sealed partial class TenantUsage(ReplicaManager replicas, BrokerQuotas quotas, TenantConnections connections, MetadataQuorum quorum, TimeProvider time, ILogger<TenantUsage> logger)
{
    // Summing a tenant's partitions on every Produce would cost as many partitions; a second-old sum is close enough.
    private const long StorageRefreshMs = 1000;
    private readonly ConcurrentDictionary<string, (long AtMs, long Bytes)> _storage = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _full = new(StringComparer.Ordinal);

    /// <summary>The bytes stored by the partitions of <paramref name="tenant"/> this broker leads (at most a second old).</summary>
    public long StorageBytes(Tenant tenant)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (_storage.TryGetValue(tenant.Name, out var cached) && now - cached.AtMs < StorageRefreshMs)
        {
            return cached.Bytes;
        }

        var bytes = replicas.Partitions.Where(p => p.IsLeader && p.Id.Topic.StartsWith(tenant.Prefix, StringComparison.Ordinal)).Sum(p => p.Log.Size);
        _storage[tenant.Name] = (now, bytes);
        return bytes;
    }

    /// <summary>
    /// Why a Produce of <paramref name="tenant"/> is refused for storage: its plan's <c>storage_bytes</c> is reached on
    /// this broker; null while it is not. Nothing stored is deleted early: retention and deletion free space.
    /// </summary>
    public string? StorageFull(string tenant)
    {
        var image = quorum.Current;
        if (!image.Tenants.Tenants.TryGetValue(tenant, out var current)
            || image.Plans.GetValueOrDefault(current.Plan)?.Limit(Plan.StorageBytes) is not { } limit)
        {
            return null;
        }

        var used = StorageBytes(current);
        var full = used >= limit;
        if (_full.GetValueOrDefault(tenant) != full)
        {
            _full[tenant] = full;
            LogStorage(tenant, full ? "reached" : "back under", limit, used);
        }

        return !full
            ? null
            : $"The storage limit of this account's plan ({limit} bytes, {Plan.StorageBytes}) is reached: {used} bytes stored. Delete records or topics, or lower retention.";
    }

    /// <summary>The usage of <paramref name="tenant"/> on this broker now.</summary>
    public TenantUsageSnapshot Measure(Tenant tenant)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        return new TenantUsageSnapshot(
            StorageBytes(tenant),
            connections.Open(tenant.Name),
            Math.Round(Rate(quotas.Produce, tenant.Name)),
            Math.Round(Rate(quotas.Fetch, tenant.Name)),
            quotas.ThrottledMs(tenant.Name));
    }

    /// <summary>The usage of <paramref name="tenant"/> on this broker, as DescribeConfigs entries.</summary>
    public IEnumerable<(string Name, string Value)> Describe(Tenant tenant)
    {
        var usage = Measure(tenant);
        var c = CultureInfo.InvariantCulture;
        yield return ("usage.storage_bytes", usage.StorageBytes.ToString(c));
        yield return ("usage.connections", usage.Connections.ToString(c));
        yield return ("usage.bytes_in_per_sec", usage.BytesInPerSec.ToString("F0", c));
        yield return ("usage.bytes_out_per_sec", usage.BytesOutPerSec.ToString("F0", c));
        yield return ("usage.throttled_ms", usage.ThrottledMs.ToString(c));
    }

    [LoggerMessage(EventName = "Storage", Level = LogLevel.Warning, Message = "Tenant {Tenant} is {State} its plan's storage limit of {Limit} bytes on this broker ({Used} bytes stored): its Produce requests are refused while it is at the limit")]
    private partial void LogStorage(string tenant, string state, long limit, long used);

    private double Rate(ClientQuotaManager manager, string tenant) =>
        quotas.TenantQuota(manager, tenant) is { } quota ? manager.Rate(quota) : 0;
}

/// <summary>What a tenant uses on one broker.</summary>
/// <param name="StorageBytes">Bytes stored by the partitions of the tenant this broker leads (at most a second old).</param>
/// <param name="Connections">Its connections open to this broker.</param>
/// <param name="BytesInPerSec">Its produce rate here, measured over the quota windows.</param>
/// <param name="BytesOutPerSec">Its fetch rate here, measured over the quota windows.</param>
/// <param name="ThrottledMs">How long its requests have been held back by its plan's rates, in all, since this broker started.</param>
public sealed record TenantUsageSnapshot(long StorageBytes, int Connections, double BytesInPerSec, double BytesOutPerSec, long ThrottledMs);
