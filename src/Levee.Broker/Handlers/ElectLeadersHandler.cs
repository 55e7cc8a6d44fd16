using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// ElectLeaders (v0-v2, KIP-460): a preferred (0) or unclean (1) leader election of each partition named, or of every
/// partition when the topic list is null (then partitions that need none are left out of the answer, as Kafka's
/// controller does), each answered on its own (<see cref="PartitionLeadership.Elect"/>; UNKNOWN_TOPIC_OR_PARTITION for
/// one that does not exist). Decided by the controller as one commit; another broker forwards the request.
/// </summary>
[AuthorizeRequest(AclOperation.Alter, AclResourceType.Cluster)]
public sealed class ElectLeadersHandler(ReplicaManager replicas, ControllerService controller) : ApiHandler<ElectLeadersRequest, ElectLeadersResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.ElectLeaders;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 2;

    /// <inheritdoc />
    protected override ElectLeadersRequest Read(ref KafkaReader reader, short version) => ElectLeadersRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(ElectLeadersResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<ElectLeadersResponse?> HandleAsync(RequestContext context, ElectLeadersRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        if (request.ElectionType is not (0 or 1))
        {
            return ErrorResponse(request, ErrorCode.InvalidRequest, $"Unknown election type {request.ElectionType}.");
        }

        if (!controller.IsActive)
        {
            return await replicas.ForwardToControllerAsync<ElectLeadersRequest, ElectLeadersResponse>(Key, context.ApiVersion, request, context.Aborted).ConfigureAwait(false)
                ?? ErrorResponse(request, ErrorCode.NotController, "No active controller is reachable right now; retry.");
        }

        var results = new List<(string Topic, int Partition, ErrorCode Error, string? Message)>();
        var decision = await controller.DecideAsync(
            image =>
            {
                results.Clear();
                var all = request.TopicPartitions is null;
                var asked = all
                    ? image.TopicsByName.Values.SelectMany(t => t.Partitions.Keys.Select(p => (t.Name, Partition: p)))
                    : request.TopicPartitions!.SelectMany(t => t.Partitions.Select(p => (Name: t.Topic, Partition: p)));
                var records = new List<Levee.Cluster.Metadata.MetadataRecord>();
                foreach (var (topic, index) in asked)
                {
                    if (image.GetPartition(topic, index) is not { } partition)
                    {
                        results.Add((topic, index, ErrorCode.UnknownTopicOrPartition, $"The partition {topic}-{index} does not exist."));
                        continue;
                    }

                    var (error, message, record) = PartitionLeadership.Elect(image, partition, unclean: request.ElectionType == 1);
                    if (record is not null)
                    {
                        records.Add(record);
                    }

                    if (!(all && error == ErrorCode.ElectionNotNeeded))
                    {
                        results.Add((topic, index, error, message));
                    }
                }

                return Decision.Commit(records);
            },
            context.Aborted).ConfigureAwait(false);
        if (decision.Error != ErrorCode.None)
        {
            return ErrorResponse(request, decision.Error, decision.Message);
        }

        var response = new ElectLeadersResponse();
        foreach (var topic in results.GroupBy(r => r.Topic, StringComparer.Ordinal))
        {
            var result = new ElectLeadersResponse.ReplicaElectionResult { Topic = topic.Key };
            result.PartitionResult.AddRange(topic.Select(r => new ElectLeadersResponse.PartitionResult { PartitionId = r.Partition, ErrorCode = (short)r.Error, ErrorMessage = r.Message }));
            response.ReplicaElectionResults.Add(result);
        }

        return response;
    }

    /// <inheritdoc />
    protected override ElectLeadersResponse? ErrorResponse(ElectLeadersRequest request, ErrorCode error, string? message) =>
        new()
        {
            ErrorCode = (short)error,
            ReplicaElectionResults = request.TopicPartitions is null
                ? []
                : [.. request.TopicPartitions.Select(t => new ElectLeadersResponse.ReplicaElectionResult
                {
                    Topic = t.Topic,
                    PartitionResult = [.. t.Partitions.Select(p => new ElectLeadersResponse.PartitionResult { PartitionId = p, ErrorCode = (short)error, ErrorMessage = message })],
                })],
        };
}
