using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>CreateTopics (v2-v7): partitions, replication factor, configs, validate-only; v5+ returns the resulting configs.</summary>
public sealed class CreateTopicsHandler(ReplicaManager replicas, BrokerIdentity identity) : ApiHandler<CreateTopicsRequest, CreateTopicsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.CreateTopics;

    /// <inheritdoc />
    public override short MinVersion => 2;

    /// <inheritdoc />
    public override short MaxVersion => 7;

    /// <inheritdoc />
    protected override CreateTopicsRequest Read(ref KafkaReader reader, short version) => CreateTopicsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(CreateTopicsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<CreateTopicsResponse?> HandleAsync(RequestContext context, CreateTopicsRequest request)
    {
        var response = new CreateTopicsResponse();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var duplicated = request.Topics.GroupBy(t => t.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var topic in request.Topics)
        {
            var result = new CreateTopicsResponse.CreatableTopicResult { Name = topic.Name, NumPartitions = -1, ReplicationFactor = -1 };
            if (!seen.Add(topic.Name))
            {
                continue;
            }

            response.Topics.Add(result);
            if (duplicated.Contains(topic.Name))
            {
                Fail(result, ErrorCode.InvalidRequest, $"Create topics request from client contains multiple entries for the topic {topic.Name}.");
                continue;
            }

            var partitions = topic.NumPartitions;
            var replicationFactor = topic.ReplicationFactor;
            if (topic.Assignments.Count > 0)
            {
                if (partitions != -1 || replicationFactor != -1)
                {
                    Fail(result, ErrorCode.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.");
                    continue;
                }

                if (topic.Assignments.Any(a => a.BrokerIds.Count == 0 || a.BrokerIds.Any(b => b != identity.NodeId)))
                {
                    Fail(result, ErrorCode.InvalidReplicaAssignment, $"Replica assignments may only name broker {identity.NodeId} on this single-broker cluster.");
                    continue;
                }

                partitions = topic.Assignments.Count;
                replicationFactor = (short)topic.Assignments[0].BrokerIds.Count;
            }

            var configs = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var config in topic.Configs)
            {
                configs[config.Name] = config.Value;
            }

            var outcome = replicas.CreateTopic(topic.Name, partitions, replicationFactor, configs, request.ValidateOnly, out var created);
            if (outcome.Error != ErrorCode.None || created is null)
            {
                Fail(result, outcome.Error, outcome.Message);
                continue;
            }

            result.TopicId = request.ValidateOnly ? Guid.Empty : created.TopicId;
            result.NumPartitions = created.PartitionCount;
            result.ReplicationFactor = 1;
            result.Configs = [];
            foreach (var effective in replicas.DescribeConfigs(created))
            {
                result.Configs.Add(new CreateTopicsResponse.CreatableTopicConfigs
                {
                    Name = effective.Definition.Name,
                    Value = effective.Value,
                    ReadOnly = false,
                    ConfigSource = (sbyte)effective.Source,
                    IsSensitive = false,
                });
            }
        }

        return ValueTask.FromResult<CreateTopicsResponse?>(response);
    }

    private static void Fail(CreateTopicsResponse.CreatableTopicResult result, ErrorCode error, string? message)
    {
        result.ErrorCode = (short)error;
        result.ErrorMessage = message;
        result.Configs = null;
    }
}
