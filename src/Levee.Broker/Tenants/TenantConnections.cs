using System.Collections.Concurrent;

namespace Levee.Broker.Tenants;

/// <summary>The connections bound to each tenant on this broker, against its plan's <c>connections</c> limit.</summary>
public sealed class TenantConnections
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    /// <summary>Connections of <paramref name="tenant"/> open now.</summary>
    public int Open(string tenant) => _open.GetValueOrDefault(tenant);

    /// <summary>Counts a new connection of <paramref name="tenant"/> unless it already has <paramref name="limit"/>.</summary>
    public bool TryOpen(string tenant, long? limit)
    {
        while (true)
        {
            var known = _open.TryGetValue(tenant, out var current);
            if (limit is { } most && current >= most)
            {
                return false;
            }

            if (known ? _open.TryUpdate(tenant, current + 1, current) : _open.TryAdd(tenant, 1))
            {
                return true;
            }
        }
    }

    /// <summary>A connection of <paramref name="tenant"/> closed.</summary>
    public void Close(string tenant) => _open.AddOrUpdate(tenant, 0, static (_, current) => Math.Max(0, current - 1));
}
