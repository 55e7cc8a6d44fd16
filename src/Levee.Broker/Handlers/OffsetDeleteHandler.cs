using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>OffsetDelete (v0): deletes committed offsets of topics a group does not consume (KIP-496).</summary>
[AuthorizePerResource(AclOperation.Delete, AclResourceType.Group)]
[AuthorizePerResource(AclOperation.Read, AclResourceType.Topic)]
public sealed class OffsetDeleteHandler(GroupCoordinator coordinator) : ApiHandler<OffsetDeleteRequest, OffsetDeleteResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.OffsetDelete;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override OffsetDeleteRequest Read(ref KafkaReader reader, short version) => OffsetDeleteRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(OffsetDeleteResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<OffsetDeleteResponse?> HandleAsync(RequestContext context, OffsetDeleteRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        return await coordinator.DeleteOffsetsAsync(request, context.Aborted).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override OffsetDeleteResponse? ErrorResponse(OffsetDeleteRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
