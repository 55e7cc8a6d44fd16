using System.Collections.Concurrent;

namespace Levee.Broker.Network;

/// <summary>
/// Each tenant's share of the request memory budget (<c>queued.max.request.bytes.per.tenant</c>): a tenant's
/// connections draw from their tenant's share and from the broker's budget, so a tenant whose clients flood the broker
/// (the over-quota storm) waits on its own share, unread, while every other tenant's requests still find room.
/// </summary>
public sealed class TenantRequestMemory(long share)
{
    private readonly ConcurrentDictionary<string, RequestMemoryBudget> _shares = new(StringComparer.Ordinal);

    /// <summary>The bytes each tenant's connections may hold together.</summary>
    public long Share { get; } = share;

    /// <summary>The share of <paramref name="tenant"/>.</summary>
    public RequestMemoryBudget For(string tenant) => _shares.GetOrAdd(tenant, static (_, share) => new RequestMemoryBudget(share), Share);
}
