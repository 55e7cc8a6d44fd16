using Levee.Broker.Groups;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// ConsumerGroupDescribe (v0, KIP-848): each consumer group's state, epochs, assignor and members with their
/// current and target assignments; GROUP_ID_NOT_FOUND for an unknown or classic group, as Kafka.
/// </summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Group)]
public sealed class ConsumerGroupDescribeHandler(GroupCoordinator coordinator, RequestAuthorizer authorizer) : ApiHandler<ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.ConsumerGroupDescribe;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override ConsumerGroupDescribeRequest Read(ref KafkaReader reader, short version) => ConsumerGroupDescribeRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(ConsumerGroupDescribeResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<ConsumerGroupDescribeResponse?> HandleAsync(RequestContext context, ConsumerGroupDescribeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new ConsumerGroupDescribeResponse();
        foreach (var groupId in request.GroupIds)
        {
            response.Groups.Add(authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Group, groupId)
                ? coordinator.DescribeConsumerGroup(groupId, request.IncludeAuthorizedOperations ? authorizer.AuthorizedOperations(context, AclResourceType.Group, groupId) : int.MinValue)
                : new ConsumerGroupDescribeResponse.DescribedGroup { GroupId = groupId, ErrorCode = (short)ErrorCode.GroupAuthorizationFailed });
        }

        return ValueTask.FromResult<ConsumerGroupDescribeResponse?>(response);
    }

    /// <inheritdoc />
    protected override ConsumerGroupDescribeResponse? ErrorResponse(ConsumerGroupDescribeRequest request, ErrorCode error, string? message) =>
        new()
        {
            Groups = [.. request.GroupIds.Select(g => new ConsumerGroupDescribeResponse.DescribedGroup { GroupId = g, ErrorCode = (short)error, ErrorMessage = message })],
        };
}
