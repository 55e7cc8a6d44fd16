using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// AlterReplicaLogDirs (v1-v2; v0 was removed in Kafka 4.0, KIP-896): moves replicas between this broker's log
/// directories. Levee has one (<c>log.dirs</c>), so the only move there is to it: a replica hosted here and asked into
/// that directory is already there (NONE, as Kafka answers a move to the current directory); any other path is
/// LOG_DIR_NOT_FOUND, and a partition not hosted here REPLICA_NOT_AVAILABLE, as Kafka answers. ALTER on the cluster.
/// </summary>
[AuthorizeRequest(AclOperation.Alter, AclResourceType.Cluster)]
public sealed class AlterReplicaLogDirsHandler(ReplicaManager replicas, BrokerOptions options) : ApiHandler<AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AlterReplicaLogDirs;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 2;

    /// <inheritdoc />
    protected override AlterReplicaLogDirsRequest Read(ref KafkaReader reader, short version) => AlterReplicaLogDirsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AlterReplicaLogDirsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<AlterReplicaLogDirsResponse?> HandleAsync(RequestContext context, AlterReplicaLogDirsRequest request)
    {
        var directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.DataDir));
        var response = new AlterReplicaLogDirsResponse();
        foreach (var dir in request.Dirs)
        {
            var known = string.Equals(Path.TrimEndingDirectorySeparator(dir.Path), directory, StringComparison.Ordinal);
            foreach (var topic in dir.Topics)
            {
                response.Results.Add(new AlterReplicaLogDirsResponse.AlterReplicaLogDirTopicResult
                {
                    TopicName = topic.Name,
                    Partitions =
                    [
                        .. topic.Partitions.Select(p => new AlterReplicaLogDirsResponse.AlterReplicaLogDirPartitionResult
                        {
                            PartitionIndex = p,
                            ErrorCode = (short)(!known ? ErrorCode.LogDirNotFound
                                : replicas.TryGetPartition(topic.Name, p, out _) ? ErrorCode.None
                                : ErrorCode.ReplicaNotAvailable),
                        }),
                    ],
                });
            }
        }

        return ValueTask.FromResult<AlterReplicaLogDirsResponse?>(response);
    }

    /// <inheritdoc />
    protected override AlterReplicaLogDirsResponse? ErrorResponse(AlterReplicaLogDirsRequest request, ErrorCode error, string? message) =>
        new()
        {
            Results =
            [
                .. request.Dirs.SelectMany(d => d.Topics).Select(t => new AlterReplicaLogDirsResponse.AlterReplicaLogDirTopicResult
                {
                    TopicName = t.Name,
                    Partitions = [.. t.Partitions.Select(p => new AlterReplicaLogDirsResponse.AlterReplicaLogDirPartitionResult { PartitionIndex = p, ErrorCode = (short)error })],
                }),
            ],
        };
}
