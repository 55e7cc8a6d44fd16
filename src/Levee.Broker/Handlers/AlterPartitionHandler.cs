using Levee.Broker.Cluster;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>AlterPartition (v2): a partition leader asks the active controller to change its ISR.</summary>
[AuthorizeRequest(AclOperation.ClusterAction, AclResourceType.Cluster)]
public sealed class AlterPartitionHandler(ControllerService controller) : ApiHandler<AlterPartitionRequest, AlterPartitionResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AlterPartition;

    /// <inheritdoc />
    public override short MinVersion => 2;

    /// <inheritdoc />
    public override short MaxVersion => 2;

    /// <inheritdoc />
    protected override AlterPartitionRequest Read(ref KafkaReader reader, short version) => AlterPartitionRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AlterPartitionResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<AlterPartitionResponse?> HandleAsync(RequestContext context, AlterPartitionRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = new AlterPartitionResponse();
        if (!controller.IsActive)
        {
            response.ErrorCode = (short)ErrorCode.NotController;
            return response;
        }

        foreach (var topic in request.Topics)
        {
            var topicResult = new AlterPartitionResponse.TopicData { TopicId = topic.TopicId };
            response.Topics.Add(topicResult);
            foreach (var partition in topic.Partitions)
            {
                var decision = await controller.DecideAsync(
                    image => ControllerDecisions.AlterIsr(image, topic.TopicId, partition.PartitionIndex, request.BrokerId, partition.LeaderEpoch, partition.PartitionEpoch, [.. partition.NewIsr]),
                    context.Aborted).ConfigureAwait(false);
                var result = new AlterPartitionResponse.PartitionData { PartitionIndex = partition.PartitionIndex, ErrorCode = (short)decision.Error };
                if (controller.Image.TopicsById.TryGetValue(topic.TopicId, out var current) && current.Partitions.TryGetValue(partition.PartitionIndex, out var state))
                {
                    result.LeaderId = state.Leader;
                    result.LeaderEpoch = state.LeaderEpoch;
                    result.Isr.AddRange(state.Isr);
                    result.PartitionEpoch = state.PartitionEpoch;
                }

                topicResult.Partitions.Add(result);
            }
        }

        return response;
    }

    /// <inheritdoc />
    protected override AlterPartitionResponse? ErrorResponse(AlterPartitionRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
