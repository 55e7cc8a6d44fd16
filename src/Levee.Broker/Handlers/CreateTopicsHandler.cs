using System.Collections.Immutable;
using Levee.Broker.Partitions;
using Levee.Broker.Quotas;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>CreateTopics (v2-v7): partitions, replication factor, configs, validate-only; v5+ returns the resulting configs.</summary>
[AuthorizePerResource(AclOperation.Create, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.DescribeConfigs, AclResourceType.Topic)]
public sealed class CreateTopicsHandler(ControllerMutationQuota mutations, ReplicaManager replicas, RequestAuthorizer authorizer) : ApiHandler<CreateTopicsRequest, CreateTopicsResponse>
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
    protected override async ValueTask<CreateTopicsResponse?> HandleAsync(RequestContext context, CreateTopicsRequest request)
    {
        var response = new CreateTopicsResponse();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var duplicated = request.Topics.GroupBy(t => t.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);

        // Kafka's controller bounds the records one request writes, over all its topics; a request over the
        // bound is refused whole, at once, before anything is placed.
        var records = request.Topics.Sum(t => AdminLimits.RecordsForTopic(
            t.Assignments.Count > 0 ? t.Assignments.Count : t.NumPartitions == -1 ? replicas.DefaultPartitions : t.NumPartitions,
            t.Configs.Count));
        if (replicas.Limits.CheckRecords(records, $"This CreateTopics request ({request.Topics.Count} topic(s))") is { } tooLarge)
        {
            foreach (var name in request.Topics.Select(t => t.Name).Distinct(StringComparer.Ordinal))
            {
                var refused = new CreateTopicsResponse.CreatableTopicResult { Name = name, NumPartitions = -1, ReplicationFactor = -1 };
                Fail(refused, tooLarge.Error, tooLarge.Message);
                response.Topics.Add(refused);
            }

            return response;
        }

        // Kafka's rule: CREATE on the cluster creates any topic, else CREATE on each topic.
        var mayCreateAny = authorizer.AuthorizeCluster(context, AclOperation.Create);
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

            if (!mayCreateAny && !authorizer.Authorize(context, AclOperation.Create, AclResourceType.Topic, topic.Name))
            {
                Fail(result, ErrorCode.TopicAuthorizationFailed, RequestAuthorizer.DeniedMessage);
                continue;
            }

            IReadOnlyList<ImmutableArray<int>>? assignment = null;
            var partitions = topic.NumPartitions;
            var replicationFactor = topic.ReplicationFactor;
            if (topic.Assignments.Count > 0)
            {
                if (partitions != -1 || replicationFactor != -1)
                {
                    Fail(result, ErrorCode.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.");
                    continue;
                }

                assignment = [.. topic.Assignments.OrderBy(a => a.PartitionIndex).Select(a => a.BrokerIds.ToImmutableArray())];
                if (assignment.Count == 0 || topic.Assignments.Select(a => a.PartitionIndex).Order().Where((p, i) => p != i).Any())
                {
                    Fail(result, ErrorCode.InvalidReplicaAssignment, "Replica assignments must cover partitions 0..n-1 once each.");
                    continue;
                }

                partitions = assignment.Count;
                replicationFactor = (short)assignment[0].Length;
            }

            var configs = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var config in topic.Configs)
            {
                configs[config.Name] = config.Value;
            }

            // KIP-599: v6+ refuses a topic while the sender's mutation quota is spent; older versions are throttled.
            if (!request.ValidateOnly
                && mutations.TryMutate(context, partitions == -1 ? replicas.DefaultPartitions : partitions, strict: context.ApiVersion >= 6) is { } throttled)
            {
                Fail(result, throttled, ControllerMutationQuota.ExceededMessage);
                continue;
            }

            var (outcome, created) = await replicas.CreateTopicAsync(topic.Name, partitions, replicationFactor, assignment, configs, request.ValidateOnly, context.Aborted).ConfigureAwait(false);
            if (outcome.Error != ErrorCode.None || created is null)
            {
                Fail(result, outcome.Error, outcome.Message);
                continue;
            }

            result.TopicId = request.ValidateOnly ? Guid.Empty : created.TopicId;

            // Kafka's rule: the partition count, replication factor and configs of a created topic only for a principal
            // allowed DESCRIBE_CONFIGS on it; otherwise TOPIC_AUTHORIZATION_FAILED as the config error.
            if (!authorizer.Authorize(context, AclOperation.DescribeConfigs, AclResourceType.Topic, topic.Name))
            {
                result.TopicConfigErrorCode = (short)ErrorCode.TopicAuthorizationFailed;
                continue;
            }

            result.NumPartitions = created.PartitionCount;
            result.ReplicationFactor = replicationFactor > 0 ? replicationFactor : (short)(replicas.Image.GetPartition(topic.Name, 0)?.Replicas.Length ?? -1);
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

        return response;
    }

    private static void Fail(CreateTopicsResponse.CreatableTopicResult result, ErrorCode error, string? message)
    {
        result.ErrorCode = (short)error;
        result.ErrorMessage = message;
        result.Configs = null;
    }

    /// <inheritdoc />
    protected override CreateTopicsResponse? ErrorResponse(CreateTopicsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Topics = [.. request.Topics.Select(t => new CreateTopicsResponse.CreatableTopicResult { Name = t.Name, ErrorCode = (short)error, ErrorMessage = message })],
        };
}
