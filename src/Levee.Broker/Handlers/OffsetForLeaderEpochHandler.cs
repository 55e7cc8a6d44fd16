using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// OffsetForLeaderEpoch (v2-v4): the end offset of a leader epoch on the partition leader, from
/// its leader-epoch checkpoint. Consumers use it after a leader change to check that their
/// position was not truncated away (KIP-320); followers here learn the same from Fetch's
/// diverging epoch.
/// </summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Topic)]
public sealed class OffsetForLeaderEpochHandler(ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.OffsetForLeaderEpoch;

    /// <inheritdoc />
    public override short MinVersion => 2;

    /// <inheritdoc />
    public override short MaxVersion => 4;

    /// <inheritdoc />
    protected override OffsetForLeaderEpochRequest Read(ref KafkaReader reader, short version) => OffsetForLeaderEpochRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(OffsetForLeaderEpochResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<OffsetForLeaderEpochResponse?> HandleAsync(RequestContext context, OffsetForLeaderEpochRequest request)
    {
        var response = new OffsetForLeaderEpochResponse();
        var describable = authorizer.Authorized(context, AclOperation.Describe, AclResourceType.Topic, request.Topics.Select(t => t.Topic));
        foreach (var topic in request.Topics)
        {
            var topicResult = new OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult { Topic = topic.Topic };
            response.Topics.Add(topicResult);
            foreach (var requested in topic.Partitions)
            {
                var result = new OffsetForLeaderEpochResponse.EpochEndOffset { Partition = requested.Partition, LeaderEpoch = -1, EndOffset = -1 };
                topicResult.Partitions.Add(result);
                if (!describable.Contains(topic.Topic))
                {
                    result.ErrorCode = (short)ErrorCode.TopicAuthorizationFailed;
                    continue;
                }

                if (!replicas.TryGetPartition(topic.Topic, requested.Partition, out var partition))
                {
                    result.ErrorCode = (short)replicas.NotHostedError(topic.Topic, requested.Partition);
                    continue;
                }

                if (!partition.IsLeader)
                {
                    result.ErrorCode = (short)ErrorCode.NotLeaderOrFollower;
                    continue;
                }

                var current = partition.LeaderEpoch;
                if (requested.CurrentLeaderEpoch >= 0 && requested.CurrentLeaderEpoch != current)
                {
                    // A client behind the leader's epoch has stale metadata; one ahead knows of an election we have not seen yet.
                    result.ErrorCode = (short)(requested.CurrentLeaderEpoch < current ? ErrorCode.FencedLeaderEpoch : ErrorCode.UnknownLeaderEpoch);
                    continue;
                }

                var (epoch, endOffset) = partition.Log.EndOffsetForEpoch(requested.LeaderEpoch);
                result.LeaderEpoch = epoch;
                result.EndOffset = endOffset;
            }
        }

        return ValueTask.FromResult<OffsetForLeaderEpochResponse?>(response);
    }

    /// <inheritdoc />
    protected override OffsetForLeaderEpochResponse? ErrorResponse(OffsetForLeaderEpochRequest request, ErrorCode error, string? message) =>
        new()
        {
            Topics =
            [
                .. request.Topics.Select(t => new OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult
                {
                    Topic = t.Topic,
                    Partitions = [.. t.Partitions.Select(p => new OffsetForLeaderEpochResponse.EpochEndOffset { Partition = p.Partition, ErrorCode = (short)error, LeaderEpoch = -1, EndOffset = -1 })],
                }),
            ],
        };
}
