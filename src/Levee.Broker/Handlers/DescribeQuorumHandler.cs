using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Quorum;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeQuorum (v0-2, what <c>kafka-metadata-quorum describe</c> sends): the metadata quorum's leader, epoch (the
/// Raft term), high watermark (the last committed entry's index) and voters, answered by the quorum leader; another
/// broker forwards the request to it, as Kafka's brokers do. DESCRIBE on the cluster. Every broker is a voter
/// (combined mode), so there are no observers. Offsets are Raft entry indexes; the leader knows its own log end,
/// not its followers' (DotNext does not expose them), so a follower's is -1, which Kafka's protocol defines as
/// unknown. A partition other than <c>__cluster_metadata-0</c> is UNKNOWN_TOPIC_OR_PARTITION.
/// </summary>
[AuthorizeRequest(AclOperation.Describe, AclResourceType.Cluster)]
public sealed class DescribeQuorumHandler(MetadataQuorum quorum, ReplicaManager replicas, TimeProvider time) : ApiHandler<DescribeQuorumRequest, DescribeQuorumResponse>
{
    /// <summary>The metadata partition's topic, as Kafka names it.</summary>
    public const string MetadataTopic = "__cluster_metadata";

    // The name the voters' Raft endpoints are listed under (Kafka's usual controller listener name).
    private const string QuorumListener = "CONTROLLER";

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeQuorum;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 2;

    /// <inheritdoc />
    protected override DescribeQuorumRequest Read(ref KafkaReader reader, short version) => DescribeQuorumRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeQuorumResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<DescribeQuorumResponse?> HandleAsync(RequestContext context, DescribeQuorumRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        if (!quorum.IsLeader)
        {
            return await replicas.ForwardToControllerAsync<DescribeQuorumRequest, DescribeQuorumResponse>(ApiKey.DescribeQuorum, DescribeQuorumRequest.HighestVersion, request, context.Aborted).ConfigureAwait(false)
                ?? ErrorResponse(request, ErrorCode.NotLeaderOrFollower, "No quorum leader is reachable right now; retry.");
        }

        var response = new DescribeQuorumResponse { ErrorMessage = null };
        foreach (var topic in request.Topics)
        {
            var answer = new DescribeQuorumResponse.TopicData { TopicName = topic.TopicName };
            foreach (var partition in topic.Partitions)
            {
                answer.Partitions.Add(topic.TopicName == MetadataTopic && partition.PartitionIndex == 0
                    ? Describe()
                    : new DescribeQuorumResponse.PartitionData
                    {
                        PartitionIndex = partition.PartitionIndex,
                        ErrorCode = (short)ErrorCode.UnknownTopicOrPartition,
                        ErrorMessage = $"The metadata quorum's partition is {MetadataTopic}-0.",
                        LeaderId = -1,
                        LeaderEpoch = -1,
                        HighWatermark = -1,
                    });
            }

            response.Topics.Add(answer);
        }

        response.Nodes.AddRange(quorum.Voters.Select(v => new DescribeQuorumResponse.Node
        {
            NodeId = v.Id,
            Listeners = [new DescribeQuorumResponse.Listener { Name = QuorumListener, Host = v.EndPoint.Address.ToString(), Port = (ushort)v.EndPoint.Port }],
        }));
        return response;
    }

    private DescribeQuorumResponse.PartitionData Describe()
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        return new DescribeQuorumResponse.PartitionData
        {
            PartitionIndex = 0,
            ErrorMessage = null,
            LeaderId = quorum.NodeId,
            LeaderEpoch = (int)quorum.Term,
            HighWatermark = quorum.CommittedIndex,
            CurrentVoters =
            [
                .. quorum.Voters.Select(v => v.Id == quorum.NodeId
                    ? new DescribeQuorumResponse.ReplicaState { ReplicaId = v.Id, LogEndOffset = quorum.LastIndex, LastFetchTimestamp = -1, LastCaughtUpTimestamp = now }
                    : new DescribeQuorumResponse.ReplicaState { ReplicaId = v.Id, LogEndOffset = -1, LastFetchTimestamp = -1, LastCaughtUpTimestamp = -1 }),
            ],
        };
    }

    /// <inheritdoc />
    protected override DescribeQuorumResponse? ErrorResponse(DescribeQuorumRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message };
}
