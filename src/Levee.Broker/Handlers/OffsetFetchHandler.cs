using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>OffsetFetch (v1-v9; v0 was removed in Kafka 4.0): committed offsets of one group, or of several (v8+).</summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Group)]
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Topic)]
public sealed class OffsetFetchHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<OffsetFetchRequest, OffsetFetchResponse>
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

        // Kafka's checks: DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED), then DESCRIBE on each topic: a named
        // topic is answered TOPIC_AUTHORIZATION_FAILED, and one the principal may not describe is left out of "all".
        if (context.ApiVersion < 8)
        {
            if (!authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Group, request.GroupId))
            {
                return ErrorResponse(request, ErrorCode.GroupAuthorizationFailed, null);
            }

            var single = await coordinator.FetchOffsetsAsync(request, context.ApiVersion, context.Aborted).ConfigureAwait(false);
            single.Topics.RemoveAll(t => !Describable(context, t.Name, t.Partitions, request.Topics is not null, p => (p.ErrorCode, p.CommittedOffset) = ((short)ErrorCode.TopicAuthorizationFailed, -1)));
            return single;
        }

        var denied = request.Groups.Where(g => !authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Group, g.GroupId)).ToList();
        request.Groups.RemoveAll(denied.Contains);
        var response = request.Groups.Count > 0 ? await coordinator.FetchOffsetsAsync(request, context.ApiVersion, context.Aborted).ConfigureAwait(false) : new OffsetFetchResponse();
        foreach (var group in response.Groups)
        {
            var named = request.Groups.FirstOrDefault(g => g.GroupId == group.GroupId)?.Topics is not null;
            group.Topics.RemoveAll(t => !Describable(context, t.Name, t.Partitions, named, p => (p.ErrorCode, p.CommittedOffset) = ((short)ErrorCode.TopicAuthorizationFailed, -1)));
        }

        response.Groups.AddRange(denied.Select(g => new OffsetFetchResponse.OffsetFetchResponseGroup { GroupId = g.GroupId, ErrorCode = (short)ErrorCode.GroupAuthorizationFailed }));
        return response;
    }

    // True to keep the topic: describable, or named in the request (then its partitions carry the error instead of offsets).
    private bool Describable<TPartition>(RequestContext context, string topic, List<TPartition> partitions, bool named, Action<TPartition> deny)
    {
        if (authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, topic))
        {
            return true;
        }

        foreach (var partition in partitions)
        {
            deny(partition);
        }

        return named;
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
