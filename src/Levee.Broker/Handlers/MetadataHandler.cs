using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Topics;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Storage;

namespace Levee.Broker.Handlers;

/// <summary>
/// Metadata (v0-v12): brokers, controller and, per topic, partitions with leader, replicas and ISR.
/// A single broker leads every partition and is the controller: strict clients (kafkajs, the .NET
/// AdminClient) wait until the controller id names a listed broker. Unknown topics are auto-created
/// when auto.create.topics.enable and the request (v4+) allow it.
/// </summary>
public sealed class MetadataHandler(ReplicaManager replicas, BrokerIdentity identity) : ApiHandler<MetadataRequest, MetadataResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.Metadata;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 12;

    /// <inheritdoc />
    protected override MetadataRequest Read(ref KafkaReader reader, short version) => MetadataRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(MetadataResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<MetadataResponse?> HandleAsync(RequestContext context, MetadataRequest request)
    {
        var response = new MetadataResponse
        {
            ClusterId = replicas.ClusterId,
            ControllerId = identity.NodeId,
        };
        response.Brokers.Add(new MetadataResponse.MetadataResponseBroker { NodeId = identity.NodeId, Host = identity.Host, Port = identity.Port, Rack = null });

        // v0: an empty list means every topic; v1+: null means every topic.
        var all = request.Topics is null || (context.ApiVersion == 0 && request.Topics.Count == 0);
        if (all)
        {
            foreach (var topic in replicas.Topics.All.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                response.Topics.Add(Describe(topic));
            }

            return ValueTask.FromResult<MetadataResponse?>(response);
        }

        var allowAutoCreate = context.ApiVersion < 4 || request.AllowAutoTopicCreation;
        foreach (var requested in request.Topics!)
        {
            TopicInfo? topic = null;
            if (requested.Name is null)
            {
                if (!replicas.Topics.TryGet(requested.TopicId, out topic))
                {
                    response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = null, TopicId = requested.TopicId, ErrorCode = (short)ErrorCode.UnknownTopicId });
                    continue;
                }
            }
            else if (!replicas.Topics.TryGet(requested.Name, out topic))
            {
                if (!TopicPartition.IsValidTopicName(requested.Name, out _))
                {
                    response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = (short)ErrorCode.InvalidTopic });
                    continue;
                }

                if (!allowAutoCreate || !replicas.TryAutoCreate(requested.Name, out topic))
                {
                    response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = (short)ErrorCode.UnknownTopicOrPartition });
                    continue;
                }
            }

            response.Topics.Add(Describe(topic));
        }

        return ValueTask.FromResult<MetadataResponse?>(response);
    }

    private MetadataResponse.MetadataResponseTopic Describe(TopicInfo topic)
    {
        var result = new MetadataResponse.MetadataResponseTopic
        {
            Name = topic.Name,
            TopicId = topic.TopicId,
            IsInternal = topic.Name.StartsWith("__", StringComparison.Ordinal),
        };
        for (var i = 0; i < topic.PartitionCount; i++)
        {
            var partition = new MetadataResponse.MetadataResponsePartition
            {
                PartitionIndex = i,
                LeaderId = identity.NodeId,
                LeaderEpoch = replicas.TryGetPartition(topic.Name, i, out var p) ? p.LeaderEpoch : 0,
            };
            partition.ReplicaNodes.Add(identity.NodeId);
            partition.IsrNodes.Add(identity.NodeId);
            result.Partitions.Add(partition);
        }

        return result;
    }
}
