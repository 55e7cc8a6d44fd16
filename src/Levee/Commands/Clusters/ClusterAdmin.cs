using System.Globalization;
using Levee.Broker.Cluster;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Commands.Clusters;

/// <summary>A failure a cluster command reports as one line and exit code 1.</summary>
internal sealed class ClusterCommandException(string message) : Exception(message);

/// <summary>One partition as the cluster reports it in Metadata.</summary>
internal sealed record PartitionView(string Topic, int Partition, int Leader, IReadOnlyList<int> Replicas, IReadOnlyList<int> Isr, IReadOnlyList<int> Offline)
{
    public bool UnderReplicated => Isr.Count < Replicas.Count;

    public bool IsOffline => Leader < 0;
}

/// <summary>A live broker as DescribeCluster reports it.</summary>
internal sealed record BrokerView(int Id, string Host, int Port);

/// <summary>What the cluster says about itself: DescribeCluster (brokers, controller) and Metadata (partitions).</summary>
internal sealed record ClusterView(string ClusterId, int ControllerId, IReadOnlyList<BrokerView> Brokers, IReadOnlyList<PartitionView> Partitions, string AnsweredBy);

/// <summary>Asks a cluster over the Kafka protocol (the broker's own <see cref="BrokerClient"/>), trying each bootstrap server in turn.</summary>
internal static class ClusterAdmin
{
    private const short MetadataVersion = 12;
    private const short DescribeClusterVersion = 0;

    public static async Task<ClusterView> DescribeAsync(string bootstrap, ClientSecurity? security, TimeSpan timeout, IReadOnlyCollection<string>? topics = null)
    {
        var problems = new List<string>();
        foreach (var server in bootstrap.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            await using var client = Connect(server, "levee-cli", security);
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                var cluster = await client.SendAsync<DescribeClusterRequest, DescribeClusterResponse>(ApiKey.DescribeCluster, DescribeClusterVersion, new DescribeClusterRequest(), cancel.Token).ConfigureAwait(false);
                if (cluster.ErrorCode != 0)
                {
                    problems.Add($"{server}: DescribeCluster {(ErrorCode)cluster.ErrorCode}");
                    continue;
                }

                var request = new MetadataRequest
                {
                    Topics = topics is null ? null : topics.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t }).ToList(),
                    AllowAutoTopicCreation = false,
                };
                var metadata = await client.SendAsync<MetadataRequest, MetadataResponse>(ApiKey.Metadata, MetadataVersion, request, cancel.Token).ConfigureAwait(false);
                var missing = metadata.Topics.FirstOrDefault(t => t.ErrorCode != 0);
                if (missing is not null)
                {
                    throw new ClusterCommandException($"Topic {missing.Name}: {(ErrorCode)missing.ErrorCode}.");
                }

                var partitions = metadata.Topics
                    .OrderBy(t => t.Name, StringComparer.Ordinal)
                    .SelectMany(t => t.Partitions.OrderBy(p => p.PartitionIndex).Select(p => new PartitionView(t.Name ?? "", p.PartitionIndex, p.LeaderId, p.ReplicaNodes, p.IsrNodes, p.OfflineReplicas)))
                    .ToList();
                var brokers = cluster.Brokers.OrderBy(b => b.BrokerId).Select(b => new BrokerView(b.BrokerId, b.Host, b.Port)).ToList();
                return new ClusterView(cluster.ClusterId, cluster.ControllerId, brokers, partitions, server);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
            {
                problems.Add($"{server}: {(e is OperationCanceledException ? "no answer within " + timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s" : e.Message)}");
            }
        }

        throw new ClusterCommandException("No broker answered: " + string.Join("; ", problems));
    }

    /// <summary>A client for <paramref name="server"/> (host:port), secured as --command-config says; it connects on its first request.</summary>
    /// <exception cref="ClusterCommandException"><paramref name="server"/> is not host:port.</exception>
    public static BrokerClient Connect(string server, string clientId, ClientSecurity? security, TimeSpan? requestTimeout = null)
    {
        var colon = server.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(server.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            throw new ClusterCommandException($"'{server}' is not host:port.");
        }

        return new BrokerClient(server[..colon], port, clientId, requestTimeout, security);
    }
}
