using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>OffsetDelete (v0): deletes committed offsets of topics a group does not consume (KIP-496).</summary>
[AuthorizePerResource(AclOperation.Delete, AclResourceType.Group)]
[AuthorizePerResource(AclOperation.Read, AclResourceType.Topic)]
public sealed class OffsetDeleteHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<OffsetDeleteRequest, OffsetDeleteResponse>
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
        if (!authorizer.Authorize(context, AclOperation.Delete, AclResourceType.Group, request.GroupId))
        {
            return ErrorResponse(request, ErrorCode.GroupAuthorizationFailed, null);
        }

        // READ on each topic: a denied topic's partitions are answered TOPIC_AUTHORIZATION_FAILED.
        var readable = authorizer.Authorized(context, AclOperation.Read, AclResourceType.Topic, request.Topics.Select(t => t.Name));
        var denied = request.Topics.Where(t => !readable.Contains(t.Name)).ToList();
        request.Topics.RemoveAll(denied.Contains);
        var response = await coordinator.DeleteOffsetsAsync(request, context.Aborted).ConfigureAwait(false);
        response.Topics.AddRange(denied.Select(t => new OffsetDeleteResponse.OffsetDeleteResponseTopic
        {
            Name = t.Name,
            Partitions = [.. t.Partitions.Select(p => new OffsetDeleteResponse.OffsetDeleteResponsePartition { PartitionIndex = p.PartitionIndex, ErrorCode = (short)ErrorCode.TopicAuthorizationFailed })],
        }));
        return response;
    }

    /// <inheritdoc />
    protected override OffsetDeleteResponse? ErrorResponse(OffsetDeleteRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
