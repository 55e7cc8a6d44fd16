using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>CreatePartitions (v0-v3): raises a topic's partition count; validate-only supported.</summary>
public sealed class CreatePartitionsHandler(ReplicaManager replicas, BrokerIdentity identity) : ApiHandler<CreatePartitionsRequest, CreatePartitionsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.CreatePartitions;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 3;

    /// <inheritdoc />
    protected override CreatePartitionsRequest Read(ref KafkaReader reader, short version) => CreatePartitionsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(CreatePartitionsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<CreatePartitionsResponse?> HandleAsync(RequestContext context, CreatePartitionsRequest request)
    {
        var response = new CreatePartitionsResponse();
        foreach (var topic in request.Topics)
        {
            var result = new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = topic.Name };
            response.Results.Add(result);
            if (topic.Assignments is { } assignments && assignments.Any(a => a.BrokerIds.Any(b => b != identity.NodeId)))
            {
                result.ErrorCode = (short)ErrorCode.InvalidReplicaAssignment;
                result.ErrorMessage = $"Replica assignments may only name broker {identity.NodeId} on this single-broker cluster.";
                continue;
            }

            var outcome = replicas.CreatePartitions(topic.Name, topic.Count, request.ValidateOnly);
            result.ErrorCode = (short)outcome.Error;
            result.ErrorMessage = outcome.Message;
        }

        return ValueTask.FromResult<CreatePartitionsResponse?>(response);
    }
}
