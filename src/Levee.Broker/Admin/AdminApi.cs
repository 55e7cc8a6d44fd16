using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Levee.Broker.Capacity;
using Levee.Broker.Cluster;
using Levee.Broker.Groups;
using Levee.Broker.Partitions;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Cluster.Controller;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace Levee.Broker.Admin;

/// <summary>
/// The admin HTTP listener's routes (docs/console.md): the dashboard at <c>/</c>, the read-only JSON API under
/// <c>/api</c>, its OpenAPI document at <c>/openapi/v1.json</c> and the metrics at <c>/metrics</c>. With
/// <c>admin.token</c> set, every route but the dashboard page requires <c>Authorization: Bearer</c> with it.
/// </summary>
public static class AdminApi
{
    /// <summary>Adds what the routes need: routing, JSON options (snake_case, as the CLI's --json), the OpenAPI document, the metrics pipeline.</summary>
    public static void AddServices(IServiceCollection services)
    {
        services.AddRouting();
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;

            // Numbers are numbers: the web default also reads them from strings, which the OpenAPI schema then allows.
            o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
        });
        services.AddOpenApi();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(BrokerMetrics.MeterName)
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
    }

    /// <summary>Maps the routes on <paramref name="app"/>, behind the bearer token check when one is set.</summary>
    public static void Map(WebApplication app, BrokerOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        if (options.AdminToken is { Value.Length: > 0 } token)
        {
            var expected = Encoding.UTF8.GetBytes("Bearer " + token.Value);
            app.Use(async (context, next) =>
            {
                if (context.Request.Path == "/" || Authorized(context.Request, expected))
                {
                    await next(context).ConfigureAwait(false);
                    return;
                }

                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
            });
        }

        app.MapGet("/", Dashboard.Serve).ExcludeFromDescription();
        app.MapOpenApi();
        app.MapPrometheusScrapingEndpoint("/metrics");
        var api = app.MapGroup("/api");
        api.MapGet("/cluster", Cluster).WithName("cluster").WithSummary("The cluster: id, controller, brokers with their state and endpoints.");
        api.MapGet("/topics", Topics).WithName("topics").WithSummary("Topics and partitions: leader, replicas, ISR, under-replicated and offline partitions.");
        api.MapGet("/groups", Groups).WithName("groups").WithSummary("Consumer groups this broker coordinates, with their committed offsets and lag.");
        api.MapGet("/tenants", Tenants).WithName("tenants").WithSummary("Tenants, their plans' limits and what they use on this broker.");
        api.MapGet("/capacity", Capacity).WithName("capacity").WithSummary("The headroom guard's view: each broker's limits, reserved load and worst load after any single failure.");
        api.MapGet("/elections", Elections).WithName("elections").WithSummary("Leader elections and ISR changes since this broker started, and the latest leader changes.");
    }

    private static bool Authorized(HttpRequest request, byte[] expected)
    {
        var header = request.Headers.Authorization.ToString();
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header), expected);
    }

    private static ClusterView Cluster(ReplicaManager replicas, ControllerService controller, BrokerIdentity identity)
    {
        var image = replicas.Image;
        var partitions = image.TopicsById.Values.SelectMany(t => t.Partitions.Values).ToList();
        var brokers = image.Brokers.Values.Select(b => new BrokerView(
            b.Id,
            b.Fenced ? "fenced" : b.InControlledShutdown ? "shutting_down" : "alive",
            b.Fenced,
            b.Rack,
            [.. b.EndPoints.Select(e => new EndpointView(e.Name, e.Host, e.Port, ProtocolName(e.SecurityProtocol)))],
            partitions.Count(p => p.Leader == b.Id),
            partitions.Count(p => p.Replicas.Contains(b.Id)))).ToList();
        return new ClusterView(replicas.ClusterId, controller.ActiveControllerId, identity.NodeId, image.Offset, brokers);
    }

    private static string ProtocolName(short protocol) => (SecurityProtocol)protocol switch
    {
        SecurityProtocol.Ssl => "SSL",
        SecurityProtocol.SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol.SaslSsl => "SASL_SSL",
        _ => "PLAINTEXT",
    };

    private static List<TopicView> Topics(ReplicaManager replicas)
    {
        var image = replicas.Image;
        return [.. image.TopicsByName.Values.Select(topic =>
        {
            var partitions = topic.Partitions.Values.Select(p =>
            {
                var local = replicas.TryGetPartition(topic.Name, p.PartitionId, out var partition) ? partition : null;
                return new PartitionView(p.PartitionId, p.Leader, p.LeaderEpoch, p.Replicas, p.Isr, p.Isr.Length < p.Replicas.Length, p.Leader < 0, local?.HighWatermark, local?.Log.Size);
            }).ToList();
            return new TopicView(
                topic.Name,
                topic.Id,
                TenantControl.TenantOf(image, topic.Name)?.Name,
                partitions.Count == 0 ? 0 : partitions.Max(p => p.Replicas.Count),
                partitions.Count(p => p.UnderReplicated),
                partitions.Count(p => p.Offline),
                partitions);
        })];
    }

    private static List<GroupView> Groups(GroupCoordinator groups, ReplicaManager replicas) =>
        [.. groups.CommittedOffsets().Select(group =>
        {
            var partitions = group.Offsets.Select(o =>
            {
                long? highWatermark = replicas.TryGetPartition(o.Partition.Topic, o.Partition.Partition, out var local) ? local.HighWatermark : null;
                return new GroupPartitionView(o.Partition.Topic, o.Partition.Partition, o.Offset, highWatermark, highWatermark - o.Offset is { } lag ? Math.Max(0, lag) : null);
            }).ToList();
            return new GroupView(group.GroupId, group.State, group.ProtocolType, group.Members, partitions.Sum(p => p.Lag ?? 0), partitions);
        })];

    private static List<TenantView> Tenants(ReplicaManager replicas, TenantUsage usage)
    {
        var image = replicas.Image;
        return [.. image.Tenants.Tenants.Values.Select(tenant =>
        {
            var limits = image.Plans.GetValueOrDefault(tenant.Plan)?.Limits ?? System.Collections.Immutable.ImmutableSortedDictionary<string, long>.Empty;
            return new TenantView(tenant.Name, tenant.Plan, tenant.Users, TenantControl.TopicsOf(image, tenant.Prefix).Count(), TenantControl.PartitionsOf(image, tenant.Prefix), limits, usage.Measure(tenant));
        })];
    }

    private static CapacityView Capacity(BrokerMetrics metrics) => metrics.CapacityNow();

    private static ElectionsView Elections(ClusterEvents events) =>
        new(events.LeaderElections, events.IsrShrinks, events.IsrExpands, [.. events.Recent().Reverse()]);
}
