using System.Diagnostics;
using System.Diagnostics.Metrics;
using Levee.Broker.Capacity;
using Levee.Broker.Cluster;
using Levee.Broker.Groups;
using Levee.Broker.Network;
using Levee.Broker.Partitions;
using Levee.Broker.Quotas;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol.Messages;

namespace Levee.Broker.Admin;

/// <summary>
/// The broker's instruments (System.Diagnostics.Metrics, meter <see cref="MeterName"/>), exported at <c>/metrics</c> in
/// Prometheus' text format (docs/console.md lists each with its Prometheus name). Only request latency is recorded on
/// the request path, with a tag cached per API; everything else is observed when scraped, from counters and state the
/// broker keeps anyway.
/// </summary>
public sealed class BrokerMetrics
{
    /// <summary>The name of the broker's meter.</summary>
    public const string MeterName = "Levee";

    private const string ApiTag = "api";

    // Request latency buckets, in seconds: 0.5 ms (a metadata request on loopback) to 30 s (a Produce waiting out its timeout).
    private static readonly double[] LatencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly Histogram<double> _requestDuration;
    private readonly KeyValuePair<string, object?>[] _apiTags;
    private readonly ReplicaManager _replicas;
    private readonly ClusterEvents _events;
    private readonly BrokerQuotas _quotas;
    private readonly GroupCoordinator _groups;
    private readonly Lock _capacityLock = new();
    private (MetadataImage Image, CapacityView View)? _capacity;

    /// <summary>Creates the instruments on a meter of <paramref name="meters"/>.</summary>
    public BrokerMetrics(IMeterFactory meters, ReplicaManager replicas, ClusterEvents events, BrokerQuotas quotas, GroupCoordinator groups, ConnectionLimit connections, ControllerService controller)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(connections);
        ArgumentNullException.ThrowIfNull(controller);
        _replicas = replicas;
        _events = events;
        _quotas = quotas;
        _groups = groups;
        var meter = meters.Create(MeterName);
        _requestDuration = meter.CreateHistogram(
            "levee.request.duration",
            "s",
            "Time from a request's arrival, whole, to its response being ready, by API.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _apiTags = new KeyValuePair<string, object?>[Enum.GetValues<ApiKey>().Max(k => (int)k) + 1];
        foreach (var key in Enum.GetValues<ApiKey>())
        {
            _apiTags[(int)key] = new KeyValuePair<string, object?>(ApiTag, key.ToString());
        }

        meter.CreateObservableCounter("levee.topic.received", () => PerTopic(p => p.BytesIn), "By", "Record bytes appended by this broker as leader, by topic and tenant.");
        meter.CreateObservableCounter("levee.topic.sent", () => PerTopic(p => p.BytesOut), "By", "Record bytes this broker sent to consumers, by topic and tenant.");
        meter.CreateObservableGauge("levee.log.size", () => PerTopic(p => p.Log.Size), "By", "Bytes of the logs of this broker's replicas, by topic and tenant.");
        meter.CreateObservableGauge("levee.partitions.under_replicated", UnderReplicated, null, "Partitions this broker leads whose ISR is smaller than their replicas.");
        meter.CreateObservableGauge("levee.replica.lag.max", FollowerLagMax, null, "The most records any partition this broker leads is ahead of a follower, by follower broker (Kafka's MaxLag; a follower that stalls shows here before it leaves the ISR).");
        meter.CreateObservableGauge("levee.partitions.offline", () => controller.IsActive ? Offline(_replicas.Image) : 0, null, "Partitions without a leader (reported by the active controller; 0 elsewhere).");
        meter.CreateObservableCounter("levee.isr.shrinks", () => _events.IsrShrinks, null, "ISR changes that removed replicas, as applied by this broker.");
        meter.CreateObservableCounter("levee.isr.expands", () => _events.IsrExpands, null, "ISR changes that added replicas, as applied by this broker.");
        meter.CreateObservableCounter("levee.leader.elections", () => _events.LeaderElections, null, "Partitions that got a new leader, as applied by this broker.");
        meter.CreateObservableCounter("levee.tenant.throttle.time", ThrottleSeconds, "s", "Time tenants' requests were held back or throttled by their plans on this broker, by tenant.");
        meter.CreateObservableGauge("levee.consumer.lag", ConsumerLag, null, "Records between each group's committed offsets and the high watermarks, by group and topic (groups this broker coordinates, partitions it holds).");
        meter.CreateObservableGauge("levee.connections.open", () => connections.Open, null, "Connections open on all Kafka listeners.");
        meter.CreateObservableGauge("levee.capacity.headroom.ratio", Headroom, null, "(bound - worst load after any single failure) / limit, by broker and resource: below 0 the headroom guard's invariant is broken.");
        meter.CreateObservableGauge("levee.capacity.limit", () => Capacity(r => r.Limit), null, "The broker.capacity.* limit, by broker and resource.");
        meter.CreateObservableGauge("levee.capacity.used", () => Capacity(r => r.Used), null, "Load reserved now, by broker and resource.");
        meter.CreateObservableGauge("levee.capacity.worst", () => Capacity(r => r.Worst), null, "Load after the worst single failure, by broker and resource.");
    }

    /// <summary>Records one request's latency: the one call on the request path (no allocation: tags are cached).</summary>
    public void RecordRequest(ApiKey apiKey, long startTimestamp)
    {
        var key = (int)apiKey;
        if (key >= 0 && key < _apiTags.Length)
        {
            _requestDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, _apiTags[key]);
        }
    }

    /// <summary>The capacity view of the current image, computed once per image.</summary>
    public CapacityView CapacityNow()
    {
        var image = _replicas.Image;
        lock (_capacityLock)
        {
            if (_capacity is { } cached && ReferenceEquals(cached.Image, image))
            {
                return cached.View;
            }

            var view = CapacityView.Build(image, _replicas.Limits);
            _capacity = (image, view);
            return view;
        }
    }

    private static int Offline(MetadataImage image) =>
        image.TopicsById.Values.Sum(t => t.Partitions.Values.Count(p => p.Leader < 0));

    private IEnumerable<Measurement<long>> PerTopic(Func<Partition, long> value)
    {
        var image = _replicas.Image;
        return _replicas.Partitions
            .GroupBy(p => p.Id.Topic, StringComparer.Ordinal)
            .Select(g => new Measurement<long>(g.Sum(value), TopicTags(image, g.Key)));
    }

    private static KeyValuePair<string, object?>[] TopicTags(MetadataImage image, string topic) =>
        [new("topic", topic), new("tenant", TenantControl.TenantOf(image, topic)?.Name ?? "")];

    private int UnderReplicated() =>
        _replicas.Partitions.Count(p => p.IsLeader && p.State.Isr.Length < p.State.Replicas.Length);

    private IEnumerable<Measurement<long>> FollowerLagMax() =>
        _replicas.Partitions.Where(p => p.IsLeader)
            .SelectMany(p => p.FollowerLag())
            .GroupBy(l => l.Replica)
            .Select(g => new Measurement<long>(g.Max(l => l.Records), new KeyValuePair<string, object?>("follower", g.Key)));

    private IEnumerable<Measurement<double>> ThrottleSeconds() =>
        _replicas.Image.Tenants.Tenants.Keys.Select(t => new Measurement<double>(_quotas.ThrottledMs(t) / 1000.0, new KeyValuePair<string, object?>("tenant", t)));

    private IEnumerable<Measurement<long>> ConsumerLag()
    {
        foreach (var group in _groups.CommittedOffsets())
        {
            foreach (var topic in group.Offsets.GroupBy(o => o.Partition.Topic, StringComparer.Ordinal))
            {
                long lag = 0;
                foreach (var (partition, offset) in topic)
                {
                    if (_replicas.TryGetPartition(partition.Topic, partition.Partition, out var local))
                    {
                        lag += Math.Max(0, local.HighWatermark - offset);
                    }
                }

                yield return new Measurement<long>(lag, new KeyValuePair<string, object?>("group", group.GroupId), new KeyValuePair<string, object?>("topic", topic.Key));
            }
        }
    }

    private IEnumerable<Measurement<double>> Headroom() =>
        Capacity(r => r.Limit > 0 ? (double)r.Headroom / r.Limit : 0);

    private IEnumerable<Measurement<T>> Capacity<T>(Func<ResourceCapacity, T> value)
        where T : struct =>
        CapacityNow().Brokers.SelectMany(b => b.Resources.Select(r => new Measurement<T>(
            value(r.Value),
            new KeyValuePair<string, object?>("broker", b.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new KeyValuePair<string, object?>("resource", r.Key))));
}
