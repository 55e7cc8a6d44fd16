using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>OffsetFetch (v1-v9; v0 was removed in Kafka 4.0): committed offsets of one group, or of several (v8+).</summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Group)]
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Topic)]
public sealed class OffsetFetchHandler(GroupCoordinator coordinator) : ApiHandler<OffsetFetchRequest, OffsetFetchResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.OffsetFetch;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 9;

    /// <inheritdoc />
    protected override OffsetFetchRequest Read(ref KafkaReader reader, short version) => OffsetFetchRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(OffsetFetchResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<OffsetFetchResponse?> HandleAsync(RequestContext context, OffsetFetchRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        return await coordinator.FetchOffsetsAsync(request, context.ApiVersion, context.Aborted).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override OffsetFetchResponse? ErrorResponse(OffsetFetchRequest request, ErrorCode error, string? message) =>
        new()
        {
            // Versions before 8 ask for one group (its error at the top level), later ones for several.
            ErrorCode = (short)error,
            Groups = [.. request.Groups.Select(g => new OffsetFetchResponse.OffsetFetchResponseGroup { GroupId = g.GroupId, ErrorCode = (short)error })],
        };
}
