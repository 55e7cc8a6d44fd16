using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>DeleteRecords (v0-v2): moves the log start offset forward; -1 means the high watermark.</summary>
[AuthorizePerResource(AclOperation.Delete, AclResourceType.Topic)]
public sealed class DeleteRecordsHandler(ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<DeleteRecordsRequest, DeleteRecordsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DeleteRecords;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 2;

    /// <inheritdoc />
    protected override DeleteRecordsRequest Read(ref KafkaReader reader, short version) => DeleteRecordsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DeleteRecordsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DeleteRecordsResponse?> HandleAsync(RequestContext context, DeleteRecordsRequest request)
    {
        var response = new DeleteRecordsResponse();
        var deletable = authorizer.Authorized(context, AclOperation.Delete, AclResourceType.Topic, request.Topics.Select(t => t.Name));
        foreach (var topic in request.Topics)
        {
            var topicResult = new DeleteRecordsResponse.DeleteRecordsTopicResult { Name = topic.Name };
            response.Topics.Add(topicResult);
            foreach (var requested in topic.Partitions)
            {
                var result = new DeleteRecordsResponse.DeleteRecordsPartitionResult { PartitionIndex = requested.PartitionIndex, LowWatermark = -1 };
                topicResult.Partitions.Add(result);
                if (!deletable.Contains(topic.Name))
                {
                    result.ErrorCode = (short)ErrorCode.TopicAuthorizationFailed;
                    continue;
                }

                if (!replicas.TryGetPartition(topic.Name, requested.PartitionIndex, out var partition))
                {
                    result.ErrorCode = (short)replicas.NotHostedError(topic.Name, requested.PartitionIndex);
                    continue;
                }

                if (!partition.IsLeader)
                {
                    result.ErrorCode = (short)ErrorCode.NotLeaderOrFollower;
                    continue;
                }

                var target = requested.Offset == -1 ? partition.HighWatermark : requested.Offset;
                if (target < 0 || target > partition.HighWatermark)
                {
                    result.ErrorCode = (short)ErrorCode.OffsetOutOfRange;
                    continue;
                }

                partition.Log.DeleteRecordsBefore(target);
                result.LowWatermark = partition.Log.LogStartOffset;
            }
        }

        return ValueTask.FromResult<DeleteRecordsResponse?>(response);
    }

    /// <inheritdoc />
    protected override DeleteRecordsResponse? ErrorResponse(DeleteRecordsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Topics =
            [
                .. request.Topics.Select(t => new DeleteRecordsResponse.DeleteRecordsTopicResult
                {
                    Name = t.Name,
                    Partitions = [.. t.Partitions.Select(p => new DeleteRecordsResponse.DeleteRecordsPartitionResult { PartitionIndex = p.PartitionIndex, LowWatermark = -1, ErrorCode = (short)error })],
                }),
            ],
        };
}
