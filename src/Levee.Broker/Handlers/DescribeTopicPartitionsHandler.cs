using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeTopicPartitions (v0, KIP-966): the topics named (or, with none named, every topic the principal may
/// DESCRIBE) in name order, each with its partitions' leader, epoch, replicas, ISR and offline replicas and the
/// principal's authorized operations, from the metadata image; paged by partitions. A response holds at most the
/// smaller of the request's limit and Kafka's <c>max.request.partition.size.limit</c> (2000) partitions, starting at
/// the request's cursor; where it stops short, <c>NextCursor</c> names the topic and partition to ask for next. A
/// named topic that does not exist is UNKNOWN_TOPIC_OR_PARTITION, one the principal may not DESCRIBE
/// TOPIC_AUTHORIZATION_FAILED; a cursor naming a topic not among those named is INVALID_REQUEST, as in Kafka.
/// </summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Topic)]
public sealed class DescribeTopicPartitionsHandler(ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse>
{
    /// <summary>Kafka's <c>max.request.partition.size.limit</c> default: the most partitions one response holds.</summary>
    public const int MaxPartitionsPerResponse = 2000;

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeTopicPartitions;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override DescribeTopicPartitionsRequest Read(ref KafkaReader reader, short version) => DescribeTopicPartitionsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeTopicPartitionsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeTopicPartitionsResponse?> HandleAsync(RequestContext context, DescribeTopicPartitionsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        var image = replicas.Image;
        var cursor = request.Cursor;
        var named = request.Topics.Select(t => t.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (cursor is not null && named.Count > 0 && !named.Contains(cursor.TopicName, StringComparer.Ordinal))
        {
            return ValueTask.FromResult(ErrorResponse(request, ErrorCode.InvalidRequest, $"The cursor's topic {cursor.TopicName} is not among the topics requested."));
        }

        // Every topic the principal may describe when none is named; unknown or denied names are answered as errors.
        var names = named.Count > 0
            ? named
            : [.. image.TopicsByName.Keys.Where(name => authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, name)).Order(StringComparer.Ordinal)];
        var remaining = Math.Clamp(request.ResponsePartitionLimit, 1, MaxPartitionsPerResponse);
        var response = new DescribeTopicPartitionsResponse { NextCursor = null };
        foreach (var name in names.Where(n => cursor is null || string.CompareOrdinal(n, cursor.TopicName) >= 0))
        {
            if (remaining == 0)
            {
                response.NextCursor = new DescribeTopicPartitionsResponse.Cursor { TopicName = name, PartitionIndex = 0 };
                break;
            }

            var denied = named.Count > 0 && !authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, name);
            if (denied || !image.TopicsByName.TryGetValue(name, out var topic))
            {
                response.Topics.Add(new DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic
                {
                    Name = name,
                    ErrorCode = (short)(denied ? ErrorCode.TopicAuthorizationFailed : ErrorCode.UnknownTopicOrPartition),
                });
                continue;
            }

            var first = cursor is not null && cursor.TopicName == name ? Math.Max(0, cursor.PartitionIndex) : 0;
            var result = Describe(context, image, topic, first, remaining);
            response.Topics.Add(result);
            remaining -= result.Partitions.Count;
            if (first + result.Partitions.Count < topic.Partitions.Count)
            {
                response.NextCursor = new DescribeTopicPartitionsResponse.Cursor { TopicName = name, PartitionIndex = first + result.Partitions.Count };
                break;
            }
        }

        return ValueTask.FromResult<DescribeTopicPartitionsResponse?>(response);
    }

    private DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic Describe(RequestContext context, MetadataImage image, TopicImage topic, int first, int count)
    {
        var result = new DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic
        {
            Name = topic.Name,
            TopicId = topic.Id,
            IsInternal = topic.Name.StartsWith("__", StringComparison.Ordinal),
            TopicAuthorizedOperations = authorizer.AuthorizedOperations(context, AclResourceType.Topic, topic.Name),
        };
        foreach (var state in topic.Partitions.Values.Where(p => p.PartitionId >= first).OrderBy(p => p.PartitionId).Take(count))
        {
            result.Partitions.Add(new DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponsePartition
            {
                PartitionIndex = state.PartitionId,
                LeaderId = state.Leader,
                LeaderEpoch = state.LeaderEpoch,
                ErrorCode = (short)(state.Leader < 0 ? ErrorCode.LeaderNotAvailable : ErrorCode.None),
                ReplicaNodes = [.. state.Replicas],
                IsrNodes = [.. state.Isr],
                OfflineReplicas = [.. MetadataHandler.OfflineReplicas(image, state)],
                EligibleLeaderReplicas = null,
                LastKnownElr = null,
            });
        }

        return result;
    }

    /// <inheritdoc />
    protected override DescribeTopicPartitionsResponse? ErrorResponse(DescribeTopicPartitionsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Topics = [.. request.Topics.Select(t => new DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic { Name = t.Name, ErrorCode = (short)error })],
            NextCursor = null,
        };
}
