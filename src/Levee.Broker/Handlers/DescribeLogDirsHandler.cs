using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeLogDirs (v0-v4): this broker's log directory (Levee has one, <c>log.dirs</c>), the size of each partition
/// replica in it, and (v4) the file system's total and usable bytes. What `levee info` reads the data size from. Kafka
/// authorizes it as DESCRIBE on the cluster, which a tenant's principal is never allowed.
/// </summary>
[AuthorizeRequest(AclOperation.Describe, AclResourceType.Cluster)]
public sealed class DescribeLogDirsHandler(ReplicaManager replicas, BrokerOptions options) : ApiHandler<DescribeLogDirsRequest, DescribeLogDirsResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeLogDirs;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 4;

    /// <inheritdoc />
    protected override DescribeLogDirsRequest Read(ref KafkaReader reader, short version) => DescribeLogDirsRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeLogDirsResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeLogDirsResponse?> HandleAsync(RequestContext context, DescribeLogDirsRequest request)
    {
        // Null asks for every partition; a list names the partitions of interest (those not hosted here are left out).
        var wanted = request.Topics?.SelectMany(t => t.Partitions.Select(p => (t.Topic, p))).ToHashSet();
        var directory = Path.GetFullPath(options.DataDir);
        var result = new DescribeLogDirsResponse.DescribeLogDirsResult { LogDir = directory };
        foreach (var topic in replicas.Partitions
            .Where(p => wanted is null || wanted.Contains((p.Id.Topic, p.Id.Partition)))
            .GroupBy(p => p.Id.Topic)
            .OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var described = new DescribeLogDirsResponse.DescribeLogDirsTopic { Name = topic.Key };
            foreach (var partition in topic.OrderBy(p => p.Id.Partition))
            {
                try
                {
                    described.Partitions.Add(new DescribeLogDirsResponse.DescribeLogDirsPartition
                    {
                        PartitionIndex = partition.Id.Partition,
                        PartitionSize = partition.Log.Size,

                        // Kafka's lag of a replica: how far its log end is behind the high watermark it knows.
                        OffsetLag = Math.Max(0, partition.HighWatermark - partition.Log.LogEndOffset),
                    });
                }
                catch (ObjectDisposedException)
                {
                    // Deleted while being described: no longer here.
                }
            }

            result.Topics.Add(described);
        }

        try
        {
            var drive = new DriveInfo(directory);
            result.TotalBytes = drive.TotalSize;
            result.UsableBytes = drive.AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Unknown: -1, as Kafka answers when it cannot tell.
        }

        return ValueTask.FromResult<DescribeLogDirsResponse?>(new DescribeLogDirsResponse { Results = [result] });
    }

    /// <inheritdoc />
    protected override DescribeLogDirsResponse? ErrorResponse(DescribeLogDirsRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error };
}
