using Levee.Broker.Partitions;
using Levee.Broker.Quotas;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>DeleteTopics (v1-v6): by name, or by topic id from v6.</summary>
[AuthorizePerResource(AclOperation.Delete, AclResourceType.Topic)]
public sealed class DeleteTopicsHandler(ControllerMutationQuota mutations, ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<DeleteTopicsRequest, DeleteTopicsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DeleteTopics;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 6;

    /// <inheritdoc />
    protected override DeleteTopicsRequest Read(ref KafkaReader reader, short version) => DeleteTopicsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DeleteTopicsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<DeleteTopicsResponse?> HandleAsync(RequestContext context, DeleteTopicsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = new DeleteTopicsResponse();
        var targets = context.ApiVersion >= 6
            ? request.Topics.Select(t => (t.Name, t.TopicId))
            : request.TopicNames.Select(n => ((string?)n, Guid.Empty));
        foreach (var (name, id) in targets)
        {
            var result = new DeleteTopicsResponse.DeletableTopicResult { Name = name, TopicId = id };
            response.Responses.Add(result);
            var resolved = name;
            if (resolved is null)
            {
                if (!replicas.Topics.TryGet(id, out var byId))
                {
                    result.ErrorCode = (short)ErrorCode.UnknownTopicId;
                    result.ErrorMessage = $"Topic id {id} does not exist.";
                    continue;
                }

                resolved = byId.Name;
                result.Name = resolved;
            }
            else if (replicas.Topics.TryGet(resolved, out var byName))
            {
                result.TopicId = byName.TopicId;
            }

            if (!authorizer.Authorize(context, AclOperation.Delete, AclResourceType.Topic, resolved))
            {
                result.ErrorCode = (short)ErrorCode.TopicAuthorizationFailed;
                result.ErrorMessage = RequestAuthorizer.DeniedMessage;
                continue;
            }

            // KIP-599: v5+ refuses a topic while the sender's mutation quota is spent; older versions are throttled.
            var partitions = replicas.Image.TopicsByName.TryGetValue(resolved, out var image) ? image.Partitions.Count : 0;
            if (mutations.TryMutate(context, partitions, strict: context.ApiVersion >= 5) is { } throttled)
            {
                result.ErrorCode = (short)throttled;
                result.ErrorMessage = ControllerMutationQuota.ExceededMessage;
                continue;
            }

            var outcome = await replicas.DeleteTopicAsync(resolved, context.Aborted).ConfigureAwait(false);
            result.ErrorCode = (short)outcome.Error;
            result.ErrorMessage = outcome.Message;
        }

        return response;
    }

    /// <inheritdoc />
    protected override DeleteTopicsResponse? ErrorResponse(DeleteTopicsRequest request, ErrorCode error, string? message) =>
        new()
        {
            // Versions before 6 name topics in TopicNames, later ones in Topics (by name or id).
            Responses =
            [
                .. request.TopicNames.Select(n => new DeleteTopicsResponse.DeletableTopicResult { Name = n, ErrorCode = (short)error, ErrorMessage = message }),
                .. request.Topics.Select(t => new DeleteTopicsResponse.DeletableTopicResult { Name = t.Name, TopicId = t.TopicId, ErrorCode = (short)error, ErrorMessage = message }),
            ],
        };
}
