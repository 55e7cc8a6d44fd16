using System.Collections.Immutable;
using Levee.Broker.Partitions;
using Levee.Broker.Quotas;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>CreatePartitions (v0-v3): raises a topic's partition count, new replicas placed by the controller or as a manual assignment says; validate-only supported.</summary>
[AuthorizePerResource(AclOperation.Alter, AclResourceType.Topic)]
public sealed class CreatePartitionsHandler(ControllerMutationQuota mutations, ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<CreatePartitionsRequest, CreatePartitionsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.CreatePartitions;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 3;

    /// <inheritdoc />
    protected override CreatePartitionsRequest Read(ref KafkaReader reader, short version) => CreatePartitionsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(CreatePartitionsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<CreatePartitionsResponse?> HandleAsync(RequestContext context, CreatePartitionsRequest request)
    {
        var response = new CreatePartitionsResponse();
        foreach (var topic in request.Topics)
        {
            var result = new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = topic.Name };
            response.Results.Add(result);
            if (!authorizer.Authorize(context, AclOperation.Alter, AclResourceType.Topic, topic.Name))
            {
                result.ErrorCode = (short)ErrorCode.TopicAuthorizationFailed;
                result.ErrorMessage = RequestAuthorizer.DeniedMessage;
                continue;
            }

            // KIP-599: v3+ refuses a topic while the sender's mutation quota is spent; older versions are throttled.
            var added = topic.Count - (replicas.Image.TopicsByName.TryGetValue(topic.Name, out var image) ? image.Partitions.Count : topic.Count);
            if (!request.ValidateOnly && added > 0 && mutations.TryMutate(context, added, strict: context.ApiVersion >= 3) is { } throttled)
            {
                result.ErrorCode = (short)throttled;
                result.ErrorMessage = ControllerMutationQuota.ExceededMessage;
                continue;
            }

            // A manual assignment (one broker list per new partition) is checked and honoured by the controller.
            var assignment = topic.Assignments?.Select(a => a.BrokerIds.ToImmutableArray()).ToList();
            var outcome = await replicas.CreatePartitionsAsync(topic.Name, topic.Count, assignment, request.ValidateOnly, context.Aborted).ConfigureAwait(false);
            result.ErrorCode = (short)outcome.Error;
            result.ErrorMessage = outcome.Message;
        }

        return response;
    }

    /// <inheritdoc />
    protected override CreatePartitionsResponse? ErrorResponse(CreatePartitionsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Results = [.. request.Topics.Select(t => new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = t.Name, ErrorCode = (short)error, ErrorMessage = message })],
        };
}
