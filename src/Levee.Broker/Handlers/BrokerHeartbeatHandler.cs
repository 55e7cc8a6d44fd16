using Levee.Broker.Cluster;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>BrokerHeartbeat (v0-v1): liveness, unfencing and controlled shutdown, served by the active controller.</summary>
[AuthorizeRequest(AclOperation.ClusterAction, AclResourceType.Cluster)]
public sealed class BrokerHeartbeatHandler(ControllerService controller) : ApiHandler<BrokerHeartbeatRequest, BrokerHeartbeatResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.BrokerHeartbeat;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override BrokerHeartbeatRequest Read(ref KafkaReader reader, short version) => BrokerHeartbeatRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(BrokerHeartbeatResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<BrokerHeartbeatResponse?> HandleAsync(RequestContext context, BrokerHeartbeatRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var result = await controller.HeartbeatAsync(request.BrokerId, request.BrokerEpoch, request.CurrentMetadataOffset, request.WantFence, request.WantShutDown, context.Aborted).ConfigureAwait(false);
        return new BrokerHeartbeatResponse
        {
            ErrorCode = (short)result.Error,
            IsFenced = result.IsFenced,
            ShouldShutDown = result.ShouldShutDown,
            IsCaughtUp = result.IsCaughtUp,
        };
    }

    /// <inheritdoc />
    protected override BrokerHeartbeatResponse? ErrorResponse(BrokerHeartbeatRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
