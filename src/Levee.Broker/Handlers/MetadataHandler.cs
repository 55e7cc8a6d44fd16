using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Storage;

namespace Levee.Broker.Handlers;

/// <summary>
/// Metadata (v0-v12): the live brokers, the controller and, per topic, partitions with leader,
/// leader epoch, replicas, ISR and offline replicas, all from the metadata image. The controller id
/// is always a listed broker: strict clients (kafkajs, the .NET AdminClient) wait until it is.
/// Unknown topics are auto-created when auto.create.topics.enable and the request (v4+) allow it. As in Kafka, a
/// topic the principal may not DESCRIBE is answered TOPIC_AUTHORIZATION_FAILED when named and left out when every
/// topic is asked for, and auto-creation needs CREATE on the cluster or on the topic.
/// </summary>
[AuthorizePerResource(AclOperation.Describe, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.Create, AclResourceType.Topic)]
public sealed class MetadataHandler(ReplicaManager replicas, ControllerService controller, RequestAuthorizer authorizer, BrokerOptions options) : ApiHandler<MetadataRequest, MetadataResponse>
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
    protected override async ValueTask<MetadataResponse?> HandleAsync(RequestContext context, MetadataRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);

        // v0: an empty list means every topic; v1+: null means every topic.
        var all = request.Topics is null || (context.ApiVersion == 0 && request.Topics.Count == 0);
        var allowAutoCreate = context.ApiVersion < 4 || request.AllowAutoTopicCreation;
        var results = new List<MetadataResponse.MetadataResponseTopic>();
        if (!all)
        {
            var mayCreateAny = allowAutoCreate && options.AutoCreateTopics && authorizer.AuthorizeCluster(context, AclOperation.Create);
            foreach (var requested in request.Topics!)
            {
                if (requested.Name is null)
                {
                    if (!replicas.Topics.TryGet(requested.TopicId, out var byId))
                    {
                        results.Add(new MetadataResponse.MetadataResponseTopic { Name = null, TopicId = requested.TopicId, ErrorCode = (short)ErrorCode.UnknownTopicId });
                    }
                    else if (!authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, byId.Name))
                    {
                        // Topic ids are not secret: Kafka answers TOPIC_AUTHORIZATION_FAILED without the name.
                        results.Add(new MetadataResponse.MetadataResponseTopic { Name = null, TopicId = requested.TopicId, ErrorCode = (short)ErrorCode.TopicAuthorizationFailed });
                    }

                    continue;
                }

                if (!authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, requested.Name))
                {
                    results.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = (short)ErrorCode.TopicAuthorizationFailed });
                    continue;
                }

                if (replicas.Topics.TryGet(requested.Name, out _))
                {
                    continue;
                }

                if (!TopicPartition.IsValidTopicName(requested.Name, out _))
                {
                    results.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = (short)ErrorCode.InvalidTopic });
                }
                else if (allowAutoCreate && options.AutoCreateTopics && !mayCreateAny && !authorizer.Authorize(context, AclOperation.Create, AclResourceType.Topic, requested.Name))
                {
                    results.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = (short)ErrorCode.TopicAuthorizationFailed });
                }
                else if (!allowAutoCreate || await replicas.TryAutoCreateAsync(requested.Name, context.Aborted).ConfigureAwait(false) is null)
                {
                    results.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, ErrorCode = (short)ErrorCode.UnknownTopicOrPartition });
                }
            }
        }

        // Read the image once, after any creation, so brokers, leaders and topics agree.
        var image = replicas.Image;
        var response = new MetadataResponse { ClusterId = replicas.ClusterId };
        // Each client is given the endpoints of the listener it came in on; a broker without that listener is left out, as in Kafka.
        foreach (var broker in image.Brokers.Values.Where(b => !b.Fenced))
        {
            if (broker.EndPoint(context.Connection.Listener.Name) is { } endpoint)
            {
                response.Brokers.Add(new MetadataResponse.MetadataResponseBroker { NodeId = broker.Id, Host = endpoint.Host, Port = endpoint.Port, Rack = broker.Rack });
            }
        }

        response.ControllerId = controller.ActiveControllerId is { } active && response.Brokers.Any(b => b.NodeId == active)
            ? active
            : response.Brokers.Count > 0 ? response.Brokers[0].NodeId : -1;

        if (request.IncludeClusterAuthorizedOperations)
        {
            response.ClusterAuthorizedOperations = authorizer.ClusterAuthorizedOperations(context);
        }

        if (all)
        {
            foreach (var topic in image.TopicsByName.Values.Where(t => authorizer.Authorize(context, AclOperation.Describe, AclResourceType.Topic, t.Name)))
            {
                response.Topics.Add(Describe(image, topic));
            }
        }
        else
        {
            AddRequested(request, image, results, response);
        }

        if (request.IncludeTopicAuthorizedOperations)
        {
            foreach (var topic in response.Topics.Where(t => t.Name is not null && t.ErrorCode != (short)ErrorCode.TopicAuthorizationFailed))
            {
                topic.TopicAuthorizedOperations = authorizer.AuthorizedOperations(context, AclResourceType.Topic, topic.Name!);
            }
        }

        return response;
    }

    /// <summary>The topics named in the request, in its order: each described, or the error found for it.</summary>
    private static void AddRequested(MetadataRequest request, MetadataImage image, List<MetadataResponse.MetadataResponseTopic> results, MetadataResponse response)
    {
        foreach (var requested in request.Topics!)
        {
            var found = requested.Name is null
                ? image.TopicsById.GetValueOrDefault(requested.TopicId)
                : image.TopicsByName.GetValueOrDefault(requested.Name);
            var failed = results.FirstOrDefault(r => r.Name == requested.Name && (requested.Name is not null || r.TopicId == requested.TopicId));
            if (failed is not null)
            {
                response.Topics.Add(failed);
            }
            else if (found is not null)
            {
                response.Topics.Add(Describe(image, found));
            }
            else
            {
                response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = requested.Name, TopicId = requested.TopicId, ErrorCode = (short)ErrorCode.UnknownTopicOrPartition });
            }
        }
    }

    private static MetadataResponse.MetadataResponseTopic Describe(MetadataImage image, TopicImage topic)
    {
        var result = new MetadataResponse.MetadataResponseTopic
        {
            Name = topic.Name,
            TopicId = topic.Id,
            IsInternal = topic.Name.StartsWith("__", StringComparison.Ordinal),
        };
        foreach (var state in topic.Partitions.Values)
        {
            var partition = new MetadataResponse.MetadataResponsePartition
            {
                PartitionIndex = state.PartitionId,
                LeaderId = state.Leader,
                LeaderEpoch = state.LeaderEpoch,
                ErrorCode = (short)(state.Leader < 0 ? ErrorCode.LeaderNotAvailable : ErrorCode.None),
            };
            partition.ReplicaNodes.AddRange(state.Replicas);
            partition.IsrNodes.AddRange(state.Isr);
            partition.OfflineReplicas.AddRange(OfflineReplicas(image, state));
            result.Partitions.Add(partition);
        }

        return result;
    }

    /// <summary>The replicas of <paramref name="partition"/> on brokers that are fenced or no longer registered (Kafka's offline replicas).</summary>
    internal static IEnumerable<int> OfflineReplicas(MetadataImage image, PartitionImage partition) =>
        partition.Replicas.Where(r => !image.Brokers.TryGetValue(r, out var b) || b.Fenced);

    /// <inheritdoc />
    protected override MetadataResponse? ErrorResponse(MetadataRequest request, ErrorCode error, string? message) =>
        new()
        {
            // A request for every topic (null) gets no topics and no brokers, as in Kafka.
            Topics = [.. (request.Topics ?? []).Select(t => new MetadataResponse.MetadataResponseTopic { Name = t.Name, TopicId = t.TopicId, ErrorCode = (short)error })],
        };
}
