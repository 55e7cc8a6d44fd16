using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>OffsetCommit (v2-v9; v0-v1 were removed in Kafka 4.0, KIP-896): commits offsets after appending them to __consumer_offsets.</summary>
[AuthorizePerResource(AclOperation.Read, AclResourceType.Group)]
[AuthorizePerResource(AclOperation.Read, AclResourceType.Topic)]
public sealed class OffsetCommitHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<OffsetCommitRequest, OffsetCommitResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.OffsetCommit;

    /// <inheritdoc />
    public override short MinVersion => 2;

    /// <inheritdoc />
    public override short MaxVersion => 9;

    /// <inheritdoc />
    protected override OffsetCommitRequest Read(ref KafkaReader reader, short version) => OffsetCommitRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(OffsetCommitResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<OffsetCommitResponse?> HandleAsync(RequestContext context, OffsetCommitRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!authorizer.Authorize(context, AclOperation.Read, AclResourceType.Group, request.GroupId))
        {
            return ErrorResponse(request, ErrorCode.GroupAuthorizationFailed, null);
        }

        // READ on each topic: a denied topic's partitions are answered TOPIC_AUTHORIZATION_FAILED, the rest committed.
        var readable = authorizer.Authorized(context, AclOperation.Read, AclResourceType.Topic, request.Topics.Select(t => t.Name));
        var denied = request.Topics.Where(t => !readable.Contains(t.Name)).ToList();
        request.Topics.RemoveAll(denied.Contains);
        var response = await coordinator.CommitOffsetsAsync(request, context.ApiVersion, context.Aborted).ConfigureAwait(false);
        if (denied.Count > 0)
        {
            response.Topics.AddRange(Errors(denied, ErrorCode.TopicAuthorizationFailed));
        }

        return response;
    }

    /// <inheritdoc />
    protected override OffsetCommitResponse? ErrorResponse(OffsetCommitRequest request, ErrorCode error, string? message) =>
        new() { Topics = Errors(request.Topics, error) };

    private static List<OffsetCommitResponse.OffsetCommitResponseTopic> Errors(IEnumerable<OffsetCommitRequest.OffsetCommitRequestTopic> topics, ErrorCode error) =>
    [
        .. topics.Select(t => new OffsetCommitResponse.OffsetCommitResponseTopic
        {
            Name = t.Name,
            Partitions = [.. t.Partitions.Select(p => new OffsetCommitResponse.OffsetCommitResponsePartition { PartitionIndex = p.PartitionIndex, ErrorCode = (short)error })],
        }),
    ];
}
