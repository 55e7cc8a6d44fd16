using System.Collections.Immutable;
using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// AlterPartitionReassignments (v0, KIP-455): starts, replaces or (null replicas) cancels the reassignment of each
/// partition named, each answered on its own with Kafka's errors (<see cref="PartitionReassignment.Alter"/>); a target
/// that would break the headroom guard is refused with POLICY_VIOLATION. Decided by the controller; another broker
/// forwards the request.
/// </summary>
[AuthorizeRequest(AclOperation.Alter, AclResourceType.Cluster)]
public sealed class AlterPartitionReassignmentsHandler(ReplicaManager replicas, ControllerService controller) : ApiHandler<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AlterPartitionReassignments;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 0;

    /// <inheritdoc />
    protected override AlterPartitionReassignmentsRequest Read(ref KafkaReader reader, short version) => AlterPartitionReassignmentsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AlterPartitionReassignmentsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<AlterPartitionReassignmentsResponse?> HandleAsync(RequestContext context, AlterPartitionReassignmentsRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        if (!controller.IsActive)
        {
            return await replicas.ForwardToControllerAsync<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse>(Key, context.ApiVersion, request, context.Aborted).ConfigureAwait(false)
                ?? ErrorResponse(request, ErrorCode.NotController, "No active controller is reachable right now; retry.");
        }

        var response = new AlterPartitionReassignmentsResponse();
        foreach (var topic in request.Topics)
        {
            var result = new AlterPartitionReassignmentsResponse.ReassignableTopicResponse { Name = topic.Name };
            response.Responses.Add(result);
            foreach (var partition in topic.Partitions)
            {
                var target = partition.Replicas is { } list ? list.ToImmutableArray() : (ImmutableArray<int>?)null;
                var decision = await controller.DecideAsync(image => PartitionReassignment.Alter(image, topic.Name, partition.PartitionIndex, target, replicas.Limits), context.Aborted).ConfigureAwait(false);
                result.Partitions.Add(new AlterPartitionReassignmentsResponse.ReassignablePartitionResponse
                {
                    PartitionIndex = partition.PartitionIndex,
                    ErrorCode = (short)decision.Error,
                    ErrorMessage = decision.Error == ErrorCode.None ? null : decision.Message,
                });
            }
        }

        return response;
    }

    /// <inheritdoc />
    protected override AlterPartitionReassignmentsResponse? ErrorResponse(AlterPartitionReassignmentsRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message };
}
