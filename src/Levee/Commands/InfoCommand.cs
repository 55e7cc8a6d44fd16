using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Levee.Broker.Cluster;
using Levee.Commands.Clusters;
using Levee.Protocol.Messages;
using Spectre.Console;

namespace Levee.Commands;

/// <summary>
/// `levee info`: the cluster at a glance, as a hosted Kafka's console shows it: version, status, brokers, topics,
/// partitions, messages/s, bytes in and out per second, data size against the limit. Everything is asked over the
/// Kafka protocol; the rates are the difference between two samples taken <c>--sample-s</c> apart.
/// </summary>
internal static class InfoCommand
{
    private const sbyte CapacityResource = 102;
    private const short DescribeLogDirsVersion = 4;
    private const short DescribeConfigsVersion = 4;
    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var sample = new Option<double>("--sample-s") { Description = "Seconds between the two samples the rates are derived from.", DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (the fields are listed in the README)." };
        var dir = ClusterCommand.DirOption();
        var bootstrap = ClusterCommand.BootstrapOption();
        var commandConfig = ClientProperties.Option();
        var timeout = ClusterCommand.TimeoutOption(10);
        var command = new Command(
            "info",
            "Version, status, brokers, topics, partitions, messages/s, bytes in/out per second and data size against its limit. "
            + "Rates come from two samples --sample-s apart: messages/s from the partitions' log end offsets (ListOffsets), bytes in/s "
            + "from the size of the leaders' logs (DescribeLogDirs), bytes out/s estimated from the consumer groups' committed offsets "
            + "times the average record size. Data size is every replica's log (DescribeLogDirs) against the brokers' "
            + "broker.capacity.disk.bytes.")
        {
            sample, json, dir, bootstrap, commandConfig, timeout,
        };
        command.SetAction((parse, cancellation) => ClusterCommand.RunAsync(async () =>
        {
            var wait = TimeSpan.FromSeconds(parse.GetValue(timeout));
            var commandConfigFile = parse.GetValue(commandConfig);
            var config = ClientProperties.Apply(
                new AdminClientConfig { BootstrapServers = ClusterFile.ResolveBootstrap(parse.GetValue(bootstrap), Path.GetFullPath(parse.GetValue(dir)!)), SocketTimeoutMs = (int)wait.TotalMilliseconds },
                commandConfigFile);
            using var admin = new AdminClientBuilder(config).Build();
            var cluster = await admin.DescribeClusterAsync(new DescribeClusterOptions { RequestTimeout = wait }).ConfigureAwait(false);
            var metadata = await Task.Run(() => admin.GetMetadata(wait), cancellation).ConfigureAwait(false);
            var topics = metadata.Topics.Where(t => !t.Error.IsError && !t.Topic.StartsWith("__", StringComparison.Ordinal)).ToList();
            var partitions = topics.SelectMany(t => t.Partitions.Select(p => (t.Topic, Partition: p))).ToList();

            // Log sizes and limits come from each broker's own answer, over Levee's protocol client, secured as the admin client.
            var security = ClientProperties.Security(commandConfigFile);
            var first = await SampleAsync(admin, cluster, partitions, security, wait, cancellation).ConfigureAwait(false);
            var clock = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(parse.GetValue(sample)), cancellation).ConfigureAwait(false);
            var second = await SampleAsync(admin, cluster, partitions, security, wait, cancellation).ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;

            var offline = partitions.Count(p => p.Partition.Leader < 0);
            var underReplicated = partitions.Count(p => p.Partition.InSyncReplicas.Length < p.Partition.Replicas.Length);
            var averageRecordBytes = second.RetainedRecords > 0 ? (double)second.LeaderBytes / second.RetainedRecords : (double?)null;
            var info = new Info(
                Version: Assembly.GetExecutingAssembly().GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
                ClusterId: cluster.ClusterId,
                Status: offline > 0 ? "offline partitions" : underReplicated > 0 ? "degraded" : "ok",
                Controller: cluster.Controller?.Id ?? -1,
                Brokers: [.. cluster.Nodes.OrderBy(n => n.Id).Select(n => new InfoBroker(n.Id, n.Host, n.Port))],
                Topics: topics.Count,
                Partitions: partitions.Count,
                UnderReplicatedPartitions: underReplicated,
                OfflinePartitions: offline,
                MessagesPerSec: Math.Max(0, second.EndOffsets - first.EndOffsets) / seconds,
                BytesInPerSec: Math.Max(0, second.LeaderBytes - first.LeaderBytes) / seconds,
                BytesOutPerSec: averageRecordBytes is { } average ? Math.Max(0, second.Committed - first.Committed) * average / seconds : null,
                DataBytes: second.ReplicaBytes,
                DataLimitBytes: second.DiskLimitBytes,
                SampleSeconds: seconds);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(info, IndentedJson));
            }
            else
            {
                Print(info);
            }

            return 0;
        }));
        return command;
    }

    private static void Print(Info info)
    {
        var c = CultureInfo.InvariantCulture;
        var grid = new Grid().AddColumns(2);
        void Row(string name, string value) => grid.AddRow(Markup.Escape(name), Markup.Escape(value));
        Row("version", info.Version);
        Row("cluster id", info.ClusterId);
        Row("status", info.Status);
        Row("brokers", $"{info.Brokers.Count} ({string.Join(", ", info.Brokers.Select(b => $"{b.Id}@{b.Host}:{b.Port}{(b.Id == info.Controller ? " controller" : "")}"))})");
        Row("topics", info.Topics.ToString(c));
        Row("partitions", $"{info.Partitions} ({info.UnderReplicatedPartitions} under-replicated, {info.OfflinePartitions} offline)");
        Row("messages/s", info.MessagesPerSec.ToString("0.0", c));
        Row("bytes in/s", info.BytesInPerSec?.ToString("0", c) ?? "unknown");
        Row("bytes out/s (consumer groups, estimated)", info.BytesOutPerSec?.ToString("0", c) ?? "unknown");
        Row("data", info.DataBytes is { } data ? $"{data.ToString(c)} bytes of {info.DataLimitBytes?.ToString(c) ?? "unknown"}{(info.DataLimitBytes is > 0 and { } limit ? $" ({100.0 * data / limit:0.0}%)" : "")}" : "unknown");
        ClusterCommand.CreateConsole().Write(grid);
    }

    private static async Task<Sample> SampleAsync(IAdminClient admin, DescribeClusterResult cluster, List<(string Topic, PartitionMetadata Partition)> partitions, ClientSecurity? security, TimeSpan wait, CancellationToken cancellation)
    {
        var led = partitions.Where(p => p.Partition.Leader >= 0).Select(p => new TopicPartition(p.Topic, p.Partition.PartitionId)).ToList();
        var ends = await OffsetsAsync(admin, led, OffsetSpec.Latest(), wait).ConfigureAwait(false);
        var starts = await OffsetsAsync(admin, led, OffsetSpec.Earliest(), wait).ConfigureAwait(false);
        var groups = await admin.ListConsumerGroupsAsync(new ListConsumerGroupsOptions { RequestTimeout = wait }).ConfigureAwait(false);
        long committed = 0;
        foreach (var group in groups.Valid)
        {
            var offsets = await admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group.GroupId, null)], new ListConsumerGroupOffsetsOptions { RequestTimeout = wait }).ConfigureAwait(false);
            committed += offsets.SelectMany(g => g.Partitions).Where(p => !p.Error.IsError && p.Offset.Value >= 0 && !p.Topic.StartsWith("__", StringComparison.Ordinal)).Sum(p => p.Offset.Value);
        }

        var leaders = partitions.ToDictionary(p => (p.Topic, p.Partition.PartitionId), p => p.Partition.Leader);
        long leaderSum = 0, replicaSum = 0, limitSum = 0;
        foreach (var broker in cluster.Nodes)
        {
            await using var client = new BrokerClient(broker.Host, broker.Port, "levee-info", wait, security);
            var dirs = await client.SendAsync<DescribeLogDirsRequest, DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, DescribeLogDirsVersion, new DescribeLogDirsRequest { Topics = null }, cancellation).ConfigureAwait(false);
            foreach (var topic in dirs.Results.SelectMany(r => r.Topics))
            {
                foreach (var partition in topic.Partitions)
                {
                    replicaSum += partition.PartitionSize;
                    if (leaders.TryGetValue((topic.Name, partition.PartitionIndex), out var leader) && leader == broker.Id)
                    {
                        leaderSum += partition.PartitionSize;
                    }
                }
            }

            limitSum += await DiskLimitAsync(client, broker.Id, cancellation).ConfigureAwait(false);
        }

        return new Sample(ends.Values.Sum(), ends.Sum(e => e.Value - starts.GetValueOrDefault(e.Key)), committed, leaderSum, replicaSum, limitSum);
    }

    private static async Task<Dictionary<TopicPartition, long>> OffsetsAsync(IAdminClient admin, List<TopicPartition> partitions, OffsetSpec spec, TimeSpan wait)
    {
        if (partitions.Count == 0)
        {
            return [];
        }

        var result = await admin.ListOffsetsAsync(partitions.Select(p => new TopicPartitionOffsetSpec { TopicPartition = p, OffsetSpec = spec }), new ListOffsetsOptions { RequestTimeout = wait }).ConfigureAwait(false);
        return result.ResultInfos.Where(r => !r.TopicPartitionOffsetError.Error.IsError)
            .ToDictionary(r => r.TopicPartitionOffsetError.TopicPartition, r => r.TopicPartitionOffsetError.Offset.Value);
    }

    /// <summary>broker.capacity.disk.bytes, from Levee's CAPACITY config resource (what `levee capacity` shows).</summary>
    private static async Task<long> DiskLimitAsync(BrokerClient client, int brokerId, CancellationToken cancellation)
    {
        var request = new DescribeConfigsRequest();
        request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = CapacityResource, ResourceName = brokerId.ToString(CultureInfo.InvariantCulture), ConfigurationKeys = null });
        var response = await client.SendAsync<DescribeConfigsRequest, DescribeConfigsResponse>(ApiKey.DescribeConfigs, DescribeConfigsVersion, request, cancellation).ConfigureAwait(false);
        var value = response.Results.FirstOrDefault(r => r.ErrorCode == 0)?.Configs.FirstOrDefault(c => c.Name == "disk_bytes.limit")?.Value;
        return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) ? limit : 0;
    }

    private sealed record Sample(long EndOffsets, long RetainedRecords, long Committed, long LeaderBytes, long ReplicaBytes, long DiskLimitBytes);

    private sealed record InfoBroker(
        [property: System.Text.Json.Serialization.JsonPropertyName("id")] int Id,
        [property: System.Text.Json.Serialization.JsonPropertyName("host")] string Host,
        [property: System.Text.Json.Serialization.JsonPropertyName("port")] int Port);

    private sealed record Info(
        [property: System.Text.Json.Serialization.JsonPropertyName("version")] string Version,
        [property: System.Text.Json.Serialization.JsonPropertyName("cluster_id")] string ClusterId,
        [property: System.Text.Json.Serialization.JsonPropertyName("status")] string Status,
        [property: System.Text.Json.Serialization.JsonPropertyName("controller")] int Controller,
        [property: System.Text.Json.Serialization.JsonPropertyName("brokers")] IReadOnlyList<InfoBroker> Brokers,
        [property: System.Text.Json.Serialization.JsonPropertyName("topics")] int Topics,
        [property: System.Text.Json.Serialization.JsonPropertyName("partitions")] int Partitions,
        [property: System.Text.Json.Serialization.JsonPropertyName("under_replicated_partitions")] int UnderReplicatedPartitions,
        [property: System.Text.Json.Serialization.JsonPropertyName("offline_partitions")] int OfflinePartitions,
        [property: System.Text.Json.Serialization.JsonPropertyName("messages_per_sec")] double MessagesPerSec,
        [property: System.Text.Json.Serialization.JsonPropertyName("bytes_in_per_sec")] double? BytesInPerSec,
        [property: System.Text.Json.Serialization.JsonPropertyName("bytes_out_per_sec")] double? BytesOutPerSec,
        [property: System.Text.Json.Serialization.JsonPropertyName("data_bytes")] long? DataBytes,
        [property: System.Text.Json.Serialization.JsonPropertyName("data_limit_bytes")] long? DataLimitBytes,
        [property: System.Text.Json.Serialization.JsonPropertyName("sample_seconds")] double SampleSeconds);
}
