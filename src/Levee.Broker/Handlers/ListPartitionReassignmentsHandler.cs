using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// ListPartitionReassignments (v0, KIP-455): the reassignments in progress (replicas, adding and removing replicas) of
/// the partitions named, or of every partition when the topic list is null; partitions without one, and unknown ones,
/// are left out, as Kafka does. Answered from the controller's image; another broker forwards the request.
/// </summary>
[AuthorizeRequest(AclOperation.Describe, AclResourceType.Cluster)]
public sealed class ListPartitionReassignmentsHandler(ReplicaManager replicas, ControllerService controller) : ApiHandler<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.ListPartitionReassignments;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override ListPartitionReassignmentsRequest Read(ref KafkaReader reader, short version) => ListPartitionReassignmentsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(ListPartitionReassignmentsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<ListPartitionReassignmentsResponse?> HandleAsync(RequestContext context, ListPartitionReassignmentsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        if (!controller.IsActive)
        {
            return await replicas.ForwardToControllerAsync<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse>(Key, context.ApiVersion, request, context.Aborted).ConfigureAwait(false)
                ?? ErrorResponse(request, ErrorCode.NotController, "No active controller is reachable right now; retry.");
        }

        var image = controller.Image;
        var asked = request.Topics is null
            ? image.TopicsByName.Values.Select(t => (t.Name, Partitions: (IEnumerable<int>)t.Partitions.Keys))
            : request.Topics.Select(t => (t.Name, Partitions: (IEnumerable<int>)t.PartitionIndexes));
        var response = new ListPartitionReassignmentsResponse();
        foreach (var (name, indexes) in asked)
        {
            var ongoing = indexes.Select(i => image.GetPartition(name, i)).OfType<PartitionImage>().Where(p => p.IsReassigning).ToList();
            if (ongoing.Count == 0)
            {
                continue;
            }

            var topic = new ListPartitionReassignmentsResponse.OngoingTopicReassignment { Name = name };
            topic.Partitions.AddRange(ongoing.Select(p => new ListPartitionReassignmentsResponse.OngoingPartitionReassignment
            {
                PartitionIndex = p.PartitionId,
                Replicas = [.. p.Replicas],
                AddingReplicas = [.. p.AddingReplicas],
                RemovingReplicas = [.. p.RemovingReplicas],
            }));
            response.Topics.Add(topic);
        }

        return response;
    }

    /// <inheritdoc />
    protected override ListPartitionReassignmentsResponse? ErrorResponse(ListPartitionReassignmentsRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message };
}
