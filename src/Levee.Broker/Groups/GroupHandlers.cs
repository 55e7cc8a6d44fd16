using System.Net;
using Levee.Broker.Handlers;
using Levee.Broker.Requests;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Broker.Groups;

/// <summary>Wires the group coordinator and its handlers into a broker.</summary>
public static class GroupHandlers
{
    /// <summary>Registers the coordinator (started and stopped with the host) and the group APIs.</summary>
    public static IServiceCollection AddGroupCoordinator(this IServiceCollection services)
    {
        services.AddSingleton<GroupCoordinator>();
        services.AddHostedService(sp => sp.GetRequiredService<GroupCoordinator>());
        services.AddSingleton<IApiHandler, FindCoordinatorHandler>();
        services.AddSingleton<IApiHandler, JoinGroupHandler>();
        services.AddSingleton<IApiHandler, SyncGroupHandler>();
        services.AddSingleton<IApiHandler, HeartbeatHandler>();
        services.AddSingleton<IApiHandler, LeaveGroupHandler>();
        services.AddSingleton<IApiHandler, OffsetCommitHandler>();
        services.AddSingleton<IApiHandler, OffsetFetchHandler>();
        services.AddSingleton<IApiHandler, TxnOffsetCommitHandler>();
        services.AddSingleton<IApiHandler, OffsetDeleteHandler>();
        services.AddSingleton<IApiHandler, DescribeGroupsHandler>();
        services.AddSingleton<IApiHandler, ListGroupsHandler>();
        services.AddSingleton<IApiHandler, DeleteGroupsHandler>();
        services.AddSingleton<IApiHandler, ConsumerGroupHeartbeatHandler>();
        services.AddSingleton<IApiHandler, ConsumerGroupDescribeHandler>();
        return services;
    }

    /// <summary>The client host as Kafka reports it ("/127.0.0.1").</summary>
    internal static string ClientHost(RequestContext context) =>
        context.RemoteEndPoint is IPEndPoint ip ? "/" + ip.Address : context.RemoteEndPoint?.ToString() ?? "";
}
