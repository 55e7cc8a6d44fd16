using System.Collections.Concurrent;
using Levee.Broker.Requests;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;

namespace Levee.Broker.Quotas;

/// <summary>
/// The client quotas this broker enforces, from the quotas in the metadata image (AlterClientQuotas): produce and
/// fetch byte rates per (user, client id), as Kafka enforces them. A client over its quota is answered at once with
/// <c>throttle_time_ms</c> and its connection is then not read for that long (KIP-219), so the broker holds nothing
/// of a throttled client's further requests beyond what its socket buffers take. Brokers (replication) are exempt. A
/// tenant's clients are measured together against their plan's rates instead (docs/tenants.md).
/// </summary>
public sealed class BrokerQuotas
{
    private readonly MetadataQuorum _quorum;
    private readonly TimeProvider _time;
    private readonly int _nodeId;
    private LeaderShares _leaderShares = new(MetadataImage.Empty, new(StringComparer.Ordinal));
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _throttledMs = new(StringComparer.Ordinal);

    /// <summary>Quotas read from <paramref name="quorum"/>'s image, measured as <paramref name="options"/> says.</summary>
    public BrokerQuotas(MetadataQuorum quorum, BrokerOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _quorum = quorum;
        _time = time;
        _nodeId = options.NodeId;
        var settings = new QuotaSettings(options.QuotaWindowNum, options.QuotaWindowSizeSeconds * 1000L);
        Produce = new ClientQuotaManager(ClientQuotaControl.ProducerByteRate, settings, time);
        Fetch = new ClientQuotaManager(ClientQuotaControl.ConsumerByteRate, settings, time);
        ControllerMutation = new ClientQuotaManager(ClientQuotaControl.ControllerMutationRate, settings, time);
        ConnectionCreation = new ClientQuotaManager(Plan.ConnectionCreationRate, settings, time);
        Request = new ClientQuotaManager(ClientQuotaControl.RequestPercentage, settings, time);
        Settings = settings;
    }

    /// <summary>The measurement settings (<c>quota.window.num</c>, <c>quota.window.size.seconds</c>).</summary>
    public QuotaSettings Settings { get; }

    /// <summary>Produce bytes per second.</summary>
    public ClientQuotaManager Produce { get; }

    /// <summary>Fetch bytes per second.</summary>
    public ClientQuotaManager Fetch { get; }

    /// <summary>
    /// Which <c>controller_mutation_rate</c> applies (<see cref="ControllerMutationQuota"/> measures it with its own
    /// token bucket, not with this manager's windows).
    /// </summary>
    public ClientQuotaManager ControllerMutation { get; }

    /// <summary>
    /// Request time as a percentage of one thread (Kafka's <c>request_percentage</c>, KIP-124): 100 is one second of
    /// request handling per second. A tenant's plan sets it for the tenant, on each broker (as Kafka's, per broker).
    /// </summary>
    public ClientQuotaManager Request { get; }

    /// <summary>Connections a tenant opens per second (its plan's <c>connection_creation_rate</c>, KIP-612's rate per tenant).</summary>
    public ClientQuotaManager ConnectionCreation { get; }

    /// <summary>The quota of <paramref name="manager"/>'s kind that applies to the sender of <paramref name="context"/>, or null (none, or a broker).</summary>
    public AppliedQuota? Find(ClientQuotaManager manager, RequestContext context)
    {
        ArgumentNullException.ThrowIfNull(manager);
        ArgumentNullException.ThrowIfNull(context);
        if (context.Connection.IsBroker)
        {
            return null;
        }

        if (context.Connection.Tenant is { } tenant)
        {
            return TenantQuota(manager, tenant.Tenant.Name);
        }

        var quotas = _quorum.Current.ClientQuotas;
        return quotas.IsEmpty ? null : manager.Find(quotas, context.Connection.Principal.Name, context.ClientId ?? "");
    }

    /// <summary>
    /// The quota of <paramref name="manager"/>'s kind that <paramref name="tenant"/>'s plan sets, or null: a tenant's plan
    /// is its quota, one measurement for all its users and clients.
    /// </summary>
    public AppliedQuota? TenantQuota(ClientQuotaManager manager, string tenant)
    {
        ArgumentNullException.ThrowIfNull(manager);
        var image = _quorum.Current;
        if (!image.Tenants.Tenants.TryGetValue(tenant, out var current)
            || !image.Plans.TryGetValue(current.Plan, out var plan)
            || plan.Limit(manager.Key) is not { } limit)
        {
            return null;
        }

        // A plan's byte rates are the tenant's across the cluster: each broker takes the share of them that its
        // leaders are of the tenant's partitions (produce and fetch go to leaders), so the brokers together give the
        // plan's rate when the tenant's traffic spreads over its partitions.
        var share = ReferenceEquals(manager, Produce) || ReferenceEquals(manager, Fetch) ? LeaderShare(image, current) : 1.0;
        return new AppliedQuota(TenantEntity(current.Name), limit * share, (TenantEntity(current.Name).User!.Value.Name!, ""));
    }

    /// <summary>
    /// The part of <paramref name="tenant"/>'s partitions whose leader is this broker, counted once per metadata image.
    /// A broker leading none of them still gets one partition's worth (traffic reaches it while leadership moves), and
    /// a tenant without partitions all of it.
    /// </summary>
    public double LeaderShare(MetadataImage image, Tenant tenant)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(tenant);
        var shares = _leaderShares;
        if (!ReferenceEquals(shares.Image, image))
        {
            shares = new LeaderShares(image, new ConcurrentDictionary<string, double>(StringComparer.Ordinal));
            _leaderShares = shares;
        }

        return shares.ByTenant.GetOrAdd(tenant.Prefix, static (prefix, state) =>
        {
            int total = 0, here = 0;
            foreach (var topic in state.Image.TopicsByName.Values.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal)))
            {
                total += topic.Partitions.Count;
                here += topic.Partitions.Values.Count(p => p.Leader == state.NodeId);
            }

            return total == 0 ? 1.0 : Math.Max(here, 1) / (double)total;
        }, (Image: image, NodeId: _nodeId));
    }

    /// <summary>
    /// Waits until <paramref name="tenant"/> is within its plan's limit of <paramref name="manager"/>'s kind, then
    /// records <paramref name="value"/>; one waiter is admitted each time the tenant is back within it. Returns the
    /// throttle time the recording leads to (0 without such a limit).
    /// </summary>
    public async ValueTask<int> AdmitAsync(ClientQuotaManager manager, string tenant, double value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manager);
        while (TenantQuota(manager, tenant) is { } quota)
        {
            var wait = manager.TryRecord(quota, value, out var throttleAfter);
            if (wait == 0)
            {
                NoteThrottled(tenant, throttleAfter);
                return (int)throttleAfter;
            }

            NoteThrottled(tenant, wait);
            await Task.Delay(TimeSpan.FromMilliseconds(wait), _time, cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>
    /// The recorder of the request-time quota for the sender of <paramref name="context"/>: given the time the request
    /// took (its waits on others left out), it counts it as a percentage of one thread and returns the throttle time.
    /// Null when no <c>request_percentage</c> applies, for brokers, and for the requests Kafka exempts (ApiVersions and
    /// the SASL exchange, served before a client is known).
    /// </summary>
    public Func<TimeSpan, int>? RequestTime(RequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.ApiKey is Protocol.Messages.ApiKey.ApiVersions or Protocol.Messages.ApiKey.SaslHandshake or Protocol.Messages.ApiKey.SaslAuthenticate
            || Find(Request, context) is not { } quota)
        {
            return null;
        }

        var tenant = context.Connection.Tenant?.Tenant.Name;
        return took =>
        {
            var throttle = (int)Request.Record(quota, Math.Max(0, took.TotalSeconds) * 100);
            if (tenant is not null)
            {
                NoteThrottled(tenant, throttle);
            }

            return throttle;
        };
    }

    /// <summary>How long <paramref name="tenant"/>'s requests and connections were held back or throttled on this broker, in ms.</summary>
    public long ThrottledMs(string tenant) => _throttledMs.GetValueOrDefault(tenant);

    /// <summary>Adds <paramref name="ms"/> to what <paramref name="tenant"/> was throttled.</summary>
    public void NoteThrottled(string tenant, long ms)
    {
        if (ms > 0)
        {
            _throttledMs.AddOrUpdate(tenant, ms, (_, total) => total + ms);
        }
    }

    // The entity a tenant's plan quota is measured and reported under: a user name no SCRAM user can have (':').
    private static ClientQuotaEntity TenantEntity(string tenant) => new(new QuotaEntityName("tenant:" + tenant), null, null);

    /// <summary>Counts a Produce request of <paramref name="bytes"/> against its sender's quota; returns the throttle time in ms.</summary>
    public int RecordProduce(RequestContext context, int bytes) =>
        Find(Produce, context) is { } quota ? (int)Produce.Record(quota, bytes) : 0;

    /// <summary>
    /// Admits a Produce request of <paramref name="bytes"/>: a tenant's request waits, before it is handled, until its
    /// tenant is back within its plan's rate, and only one waiting request is admitted each time it is. So however
    /// many connections a tenant opens, the broker takes its records at its plan's rate, and its waiting requests are
    /// held only within the tenant's share of the request memory (queued.max.request.bytes.per.tenant), which stops
    /// its connections from reading more. Anyone else is counted as Kafka counts (<see cref="RecordProduce"/>). Returns
    /// the throttle time for the response (KIP-219).
    /// </summary>
    public async ValueTask<int> AdmitProduceAsync(RequestContext context, int bytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Connection.Tenant is { } tenant && !context.Connection.IsBroker
            ? await AdmitAsync(Produce, tenant.Tenant.Name, bytes, cancellationToken).ConfigureAwait(false)
            : RecordProduce(context, bytes);
    }

    private sealed record LeaderShares(MetadataImage Image, ConcurrentDictionary<string, double> ByTenant);
}
