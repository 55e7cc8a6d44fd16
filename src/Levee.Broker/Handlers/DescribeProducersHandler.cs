using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeProducers (v0, KIP-664): the idempotent producers with state on each partition asked for. Without
/// transactions the coordinator epoch and the current transaction start offset are always -1.
/// </summary>
[AuthorizePerResource(AclOperation.Read, AclResourceType.Topic)]
public sealed class DescribeProducersHandler(ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<DescribeProducersRequest, DescribeProducersResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeProducers;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override DescribeProducersRequest Read(ref KafkaReader reader, short version) => DescribeProducersRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeProducersResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeProducersResponse?> HandleAsync(RequestContext context, DescribeProducersRequest request)
    {
        var response = new DescribeProducersResponse();
        var readable = authorizer.Authorized(context, AclOperation.Read, AclResourceType.Topic, request.Topics.Select(t => t.Name));
        foreach (var topic in request.Topics)
        {
            var topicResponse = new DescribeProducersResponse.TopicResponse { Name = topic.Name };
            foreach (var index in topic.PartitionIndexes)
            {
                var partitionResponse = new DescribeProducersResponse.PartitionResponse { PartitionIndex = index };
                if (!readable.Contains(topic.Name))
                {
                    partitionResponse.ErrorCode = (short)ErrorCode.TopicAuthorizationFailed;
                    partitionResponse.ErrorMessage = RequestAuthorizer.DeniedMessage;
                }
                else if (!replicas.TryGetPartition(topic.Name, index, out var partition))
                {
                    partitionResponse.ErrorCode = (short)replicas.NotHostedError(topic.Name, index);
                    partitionResponse.ErrorMessage = "This server does not host this topic-partition.";
                }
                else
                {
                    foreach (var producer in partition.Log.ActiveProducers())
                    {
                        partitionResponse.ActiveProducers.Add(new DescribeProducersResponse.ProducerState
                        {
                            ProducerId = producer.ProducerId,
                            ProducerEpoch = producer.ProducerEpoch,
                            LastSequence = producer.LastSequence,
                            LastTimestamp = producer.LastTimestamp,
                            CoordinatorEpoch = producer.CoordinatorEpoch,
                            CurrentTxnStartOffset = producer.CurrentTxnStartOffset,
                        });
                    }
                }

                topicResponse.Partitions.Add(partitionResponse);
            }

            response.Topics.Add(topicResponse);
        }

        return ValueTask.FromResult<DescribeProducersResponse?>(response);
    }

    /// <inheritdoc />
    protected override DescribeProducersResponse? ErrorResponse(DescribeProducersRequest request, ErrorCode error, string? message) =>
        new()
        {
            Topics =
            [
                .. request.Topics.Select(t => new DescribeProducersResponse.TopicResponse
                {
                    Name = t.Name,
                    Partitions = [.. t.PartitionIndexes.Select(p => new DescribeProducersResponse.PartitionResponse { PartitionIndex = p, ErrorCode = (short)error, ErrorMessage = message })],
                }),
            ],
        };
}
