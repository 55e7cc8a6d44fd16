using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// ListOffsets (v1-v10): latest (-1, the high watermark), earliest (-2, the log start offset),
/// max timestamp (-3, KIP-734), earliest local (-4, KIP-405; the log start offset without tiered
/// storage), and the first offset whose timestamp is at or after a given time.
/// </summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Topic)]
public sealed class ListOffsetsHandler(ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<ListOffsetsRequest, ListOffsetsResponse>
{
    private const long Latest = -1;
    private const long Earliest = -2;
    private const long MaxTimestamp = -3;
    private const long EarliestLocal = -4;
    private const long EarliestPendingUpload = -5;
    private const sbyte ReadCommitted = 1;

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.ListOffsets;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 10;

    /// <inheritdoc />
    protected override ListOffsetsRequest Read(ref KafkaReader reader, short version) => ListOffsetsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(ListOffsetsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<ListOffsetsResponse?> HandleAsync(RequestContext context, ListOffsetsRequest request)
    {
        var response = new ListOffsetsResponse();
        var describable = authorizer.Authorized(context, AclOperation.Describe, AclResourceType.Topic, request.Topics.Select(t => t.Name));
        foreach (var topic in request.Topics)
        {
            var topicResponse = new ListOffsetsResponse.ListOffsetsTopicResponse { Name = topic.Name };
            foreach (var requested in topic.Partitions)
            {
                var result = new ListOffsetsResponse.ListOffsetsPartitionResponse { PartitionIndex = requested.PartitionIndex, Offset = -1, Timestamp = -1 };
                topicResponse.Partitions.Add(result);
                if (!describable.Contains(topic.Name))
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

                var log = partition.Log;
                result.LeaderEpoch = partition.LeaderEpoch;

                // Kafka's last fetchable offset: read_committed (isolation level 1) sees up to the last stable offset.
                var lastFetchable = request.IsolationLevel == ReadCommitted ? log.LastStableOffset : partition.HighWatermark;
                switch (requested.Timestamp)
                {
                    case Latest:
                        result.Offset = lastFetchable;
                        break;
                    case Earliest:
                    case EarliestLocal:
                        result.Offset = log.LogStartOffset;
                        break;
                    case EarliestPendingUpload:
                        break;
                    case MaxTimestamp:
                        if (log.OffsetForTimestamp(MaxTimestamp) is { } max)
                        {
                            result.Offset = max.Offset;
                            result.Timestamp = max.Timestamp;
                        }

                        break;
                    case < 0:
                        result.ErrorCode = (short)ErrorCode.UnsupportedVersion;
                        break;
                    default:
                        if (log.OffsetForTimestamp(requested.Timestamp) is { } found && found.Offset < lastFetchable)
                        {
                            result.Offset = found.Offset;
                            result.Timestamp = found.Timestamp;
                        }

                        break;
                }
            }

            response.Topics.Add(topicResponse);
        }

        return ValueTask.FromResult<ListOffsetsResponse?>(response);
    }

    /// <inheritdoc />
    protected override ListOffsetsResponse? ErrorResponse(ListOffsetsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Topics =
            [
                .. request.Topics.Select(t => new ListOffsetsResponse.ListOffsetsTopicResponse
                {
                    Name = t.Name,
                    Partitions = [.. t.Partitions.Select(p => new ListOffsetsResponse.ListOffsetsPartitionResponse { PartitionIndex = p.PartitionIndex, ErrorCode = (short)error, Timestamp = -1, Offset = -1 })],
                }),
            ],
        };
}
