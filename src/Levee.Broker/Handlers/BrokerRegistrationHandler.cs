using System.Collections.Immutable;
using Levee.Broker.Cluster;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>BrokerRegistration (v0-v4): a broker joining the cluster, served by the active controller.</summary>
[AuthorizeRequest(AclOperation.ClusterAction, AclResourceType.Cluster)]
public sealed class BrokerRegistrationHandler(ControllerService controller) : ApiHandler<BrokerRegistrationRequest, BrokerRegistrationResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.BrokerRegistration;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 4;

    /// <inheritdoc />
    protected override BrokerRegistrationRequest Read(ref KafkaReader reader, short version) => BrokerRegistrationRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(BrokerRegistrationResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<BrokerRegistrationResponse?> HandleAsync(RequestContext context, BrokerRegistrationRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var endpoints = request.Listeners.Select(l => new BrokerEndpoint(l.Name, l.Host, l.Port, l.SecurityProtocol)).ToImmutableArray();
        var (error, epoch) = await controller.RegisterBrokerAsync(request.BrokerId, request.IncarnationId, endpoints, string.IsNullOrEmpty(request.Rack) ? null : request.Rack, context.Aborted).ConfigureAwait(false);
        return new BrokerRegistrationResponse { ErrorCode = (short)error, BrokerEpoch = epoch };
    }

    /// <inheritdoc />
    protected override BrokerRegistrationResponse? ErrorResponse(BrokerRegistrationRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
