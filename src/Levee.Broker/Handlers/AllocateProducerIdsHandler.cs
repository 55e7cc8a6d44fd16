using Levee.Broker.Cluster;
using Levee.Broker.Producers;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// AllocateProducerIds (v0), served by the active controller: a block of <see cref="ProducerIdManager.BlockSize"/>
/// producer ids for the asking broker, committed to the metadata log before it is returned. Another node answers
/// NOT_CONTROLLER.
/// </summary>
[AuthorizeRequest(AclOperation.ClusterAction, AclResourceType.Cluster)]
public sealed class AllocateProducerIdsHandler(ControllerService controller) : ApiHandler<AllocateProducerIdsRequest, AllocateProducerIdsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AllocateProducerIds;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override AllocateProducerIdsRequest Read(ref KafkaReader reader, short version) => AllocateProducerIdsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AllocateProducerIdsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<AllocateProducerIdsResponse?> HandleAsync(RequestContext context, AllocateProducerIdsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (error, start, length) = await controller.AllocateProducerIdsAsync(request.BrokerId, request.BrokerEpoch, ProducerIdManager.BlockSize, context.Aborted).ConfigureAwait(false);
        return new AllocateProducerIdsResponse { ErrorCode = (short)error, ProducerIdStart = start, ProducerIdLen = length };
    }

    /// <inheritdoc />
    protected override AllocateProducerIdsResponse? ErrorResponse(AllocateProducerIdsRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
