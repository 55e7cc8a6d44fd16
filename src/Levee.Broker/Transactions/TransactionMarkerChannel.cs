using Levee.Broker.Cluster;
using Levee.Broker.Groups;
using Levee.Broker.Partitions;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Storage;
using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Transactions;

/// <summary>
/// Writes transaction markers (COMMIT/ABORT control batches): on the partitions this broker leads directly, on
/// the others with WriteTxnMarkers to their leaders over the inter-broker listener, as Kafka's coordinator does.
/// The coordinator's <see cref="WriteAsync"/> retries until every partition has its marker (or the partition's
/// topic is gone, or the coordinator lost its leadership); the WriteTxnMarkers handler answers with
/// <see cref="WriteLocalAsync"/>.
/// </summary>
public sealed partial class TransactionMarkerChannel(ReplicaManager replicas, GroupCoordinator groups, BrokerOptions options, BrokerIdentity identity, TimeProvider time, ILogger<TransactionMarkerChannel> logger, BrokerTls? tls = null) : IAsyncDisposable
{
    private const short WriteTxnMarkersVersion = 1;
    private const short VerifyVersion = 4;

    /// <summary>How long a marker may wait for the partition's ISR (Kafka: request.timeout.ms).</summary>
    private static readonly TimeSpan ReplicationTimeout = TimeSpan.FromSeconds(30);

    private readonly Dictionary<int, BrokerClient> _clients = [];
    private readonly Lock _lock = new();

    /// <summary>
    /// Writes the marker of producer <paramref name="producerId"/>'s transaction to every one of
    /// <paramref name="partitions"/>, retrying with back-off (leaders moving, brokers unreachable) until each is
    /// written or its topic no longer exists. Cancelled when the coordinator loses the transaction's partition.
    /// </summary>
    public async Task WriteAsync(long producerId, short producerEpoch, bool commit, int coordinatorEpoch, IEnumerable<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        var remaining = new HashSet<TopicPartition>(partitions);
        var delay = TimeSpan.FromMilliseconds(20);
        while (remaining.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var image = replicas.Image;
            remaining.RemoveWhere(p => !image.TopicsByName.TryGetValue(p.Topic, out var topic) || !topic.Partitions.ContainsKey(p.Partition));
            var byLeader = remaining
                .Select(p => (Partition: p, Leader: image.TopicsByName[p.Topic].Partitions[p.Partition].Leader))
                .Where(x => x.Leader >= 0)
                .GroupBy(x => x.Leader, x => x.Partition)
                .ToList();
            var results = await Task.WhenAll(byLeader.Select(g => WriteToLeaderAsync(g.Key, producerId, producerEpoch, commit, coordinatorEpoch, [.. g], cancellationToken))).ConfigureAwait(false);
            foreach (var (partition, error) in results.SelectMany(r => r))
            {
                switch (error)
                {
                    case ErrorCode.None:
                        remaining.Remove(partition);
                        break;
                    case ErrorCode.InvalidProducerEpoch or ErrorCode.ProducerFenced or ErrorCode.TransactionCoordinatorFenced:
                        // A newer epoch or coordinator has written to the partition since: this marker is superseded
                        // there, as Kafka's coordinator concludes on these answers.
                        LogMarkerSuperseded(partition, producerId, error);
                        remaining.Remove(partition);
                        break;
                    default:
                        LogMarkerRetry(partition, producerId, error);
                        break;
                }
            }

            if (remaining.Count > 0)
            {
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
        }
    }

    /// <summary>One leader's share of the markers; a failure of any kind is an error to retry for each of its partitions.</summary>
    private async Task<List<(TopicPartition Partition, ErrorCode Error)>> WriteToLeaderAsync(int leader, long producerId, short producerEpoch, bool commit, int coordinatorEpoch, IReadOnlyList<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        try
        {
            return leader == replicas.LocalBrokerId
                ? await WriteLocalAsync(producerId, producerEpoch, commit, coordinatorEpoch, partitions, cancellationToken).ConfigureAwait(false)
                : await SendAsync(leader, producerId, producerEpoch, commit, coordinatorEpoch, partitions, cancellationToken).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Whatever one leader's share throws, the markers are retried: a transaction must never stay half-ended.
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            LogLeaderFailed(e, leader, producerId);
            return [.. partitions.Select(p => (p, ErrorCode.UnknownServerError))];
        }
    }

    /// <summary>
    /// Appends the marker to each of <paramref name="partitions"/> this broker leads and waits for its ISR
    /// (acks=all). A marker on __consumer_offsets completes the group coordinator's transactional offsets.
    /// NOT_LEADER_OR_FOLLOWER where this broker does not lead, UNKNOWN_TOPIC_OR_PARTITION where it holds no replica,
    /// the producer state's error where the marker is refused (an older epoch, a deposed coordinator).
    /// </summary>
    public async Task<List<(TopicPartition Partition, ErrorCode Error)>> WriteLocalAsync(long producerId, short producerEpoch, bool commit, int coordinatorEpoch, IReadOnlyList<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        var results = new List<(TopicPartition, ErrorCode)>(partitions.Count);
        var waits = new List<(int Index, Partition Partition, long End)>();
        foreach (var tp in partitions)
        {
            if (!replicas.TryGetPartition(tp.Topic, tp.Partition, out var partition))
            {
                results.Add((tp, ErrorCode.UnknownTopicOrPartition));
                continue;
            }

            if (!partition.IsLeader)
            {
                results.Add((tp, ErrorCode.NotLeaderOrFollower));
                continue;
            }

            try
            {
                var info = partition.AppendMarker(producerId, producerEpoch, commit, coordinatorEpoch);
                if (tp.Topic == GroupCoordinator.OffsetsTopic)
                {
                    groups.CompleteTransaction(tp.Partition, producerId, commit);
                }

                waits.Add((results.Count, partition, info.LastOffset + 1));
                results.Add((tp, ErrorCode.None));
            }
            catch (ProducerStateException e)
            {
                results.Add((tp, e.ErrorCode));
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException)
            {
                LogMarkerFailed(DiskSpace.StackTraceWorthy(e), tp, e.Message);
                results.Add((tp, ErrorCode.KafkaStorageError));
            }
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ReplicationTimeout);
        foreach (var (index, partition, end) in waits)
        {
            try
            {
                await partition.WaitForHighWatermarkAsync(end, timeout.Token).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                results[index] = (results[index].Item1, ErrorCode.NotLeaderOrFollower);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                results[index] = (results[index].Item1, ErrorCode.RequestTimedOut);
            }
        }

        return results;
    }

    private async Task<List<(TopicPartition Partition, ErrorCode Error)>> SendAsync(int leader, long producerId, short producerEpoch, bool commit, int coordinatorEpoch, IReadOnlyList<TopicPartition> partitions, CancellationToken cancellationToken)
    {
        var client = Client(leader);
        if (client is null)
        {
            return [.. partitions.Select(p => (p, ErrorCode.NotLeaderOrFollower))];
        }

        var marker = new WriteTxnMarkersRequest.WritableTxnMarker { ProducerId = producerId, ProducerEpoch = producerEpoch, TransactionResult = commit, CoordinatorEpoch = coordinatorEpoch };
        foreach (var topic in partitions.GroupBy(p => p.Topic, StringComparer.Ordinal))
        {
            marker.Topics.Add(new WriteTxnMarkersRequest.WritableTxnMarkerTopic { Name = topic.Key, PartitionIndexes = [.. topic.Select(p => p.Partition)] });
        }

        var request = new WriteTxnMarkersRequest();
        request.Markers.Add(marker);
        try
        {
            var response = await client.SendAsync<WriteTxnMarkersRequest, WriteTxnMarkersResponse>(ApiKey.WriteTxnMarkers, WriteTxnMarkersVersion, request, cancellationToken).ConfigureAwait(false);
            var answered = response.Markers.Where(m => m.ProducerId == producerId)
                .SelectMany(m => m.Topics.SelectMany(t => t.Partitions.Select(p => (new TopicPartition(t.Name, p.PartitionIndex), (ErrorCode)p.ErrorCode))))
                .ToDictionary(x => x.Item1, x => x.Item2);
            return [.. partitions.Select(p => (p, answered.GetValueOrDefault(p, ErrorCode.UnknownServerError)))];
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or KafkaProtocolException or InvalidOperationException)
        {
            LogSendFailed(leader, client.Address, e.Message);
            return [.. partitions.Select(p => (p, ErrorCode.NetworkException))];
        }
    }

    /// <summary>
    /// Asks the coordinator on broker <paramref name="coordinator"/> whether <paramref name="partition"/> is in the
    /// producer's ongoing transaction (AddPartitionsToTxn v4, verify-only, KIP-890). COORDINATOR_NOT_AVAILABLE when it
    /// cannot be asked.
    /// </summary>
    public async Task<ErrorCode> VerifyAsync(int coordinator, string transactionalId, long producerId, short epoch, TopicPartition partition, CancellationToken cancellationToken)
    {
        if (Client(coordinator) is not { } client)
        {
            return ErrorCode.CoordinatorNotAvailable;
        }

        var request = new AddPartitionsToTxnRequest();
        request.Transactions.Add(new AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction
        {
            TransactionalId = transactionalId,
            ProducerId = producerId,
            ProducerEpoch = epoch,
            VerifyOnly = true,
            Topics = [new AddPartitionsToTxnRequest.AddPartitionsToTxnTopic { Name = partition.Topic, Partitions = [partition.Partition] }],
        });
        try
        {
            var response = await client.SendAsync<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>(ApiKey.AddPartitionsToTxn, VerifyVersion, request, cancellationToken).ConfigureAwait(false);
            if (response.ErrorCode != 0)
            {
                return (ErrorCode)response.ErrorCode;
            }

            var result = response.ResultsByTransaction.SingleOrDefault()?.TopicResults.SingleOrDefault()?.ResultsByPartition.SingleOrDefault();
            return result is null ? ErrorCode.UnknownServerError : (ErrorCode)result.PartitionErrorCode;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or KafkaProtocolException or InvalidOperationException)
        {
            LogSendFailed(coordinator, client.Address, e.Message);
            return ErrorCode.CoordinatorNotAvailable;
        }
    }

    /// <summary>A client for broker <paramref name="brokerId"/>'s inter-broker listener, replaced when its address changes; null when it has none.</summary>
    private BrokerClient? Client(int brokerId)
    {
        if (!replicas.Image.Brokers.TryGetValue(brokerId, out var registration) || registration.EndPoint(identity.InterBrokerListener) is not { } endpoint)
        {
            return null;
        }

        lock (_lock)
        {
            if (_clients.TryGetValue(brokerId, out var client) && client.Address == $"{endpoint.Host}:{endpoint.Port}")
            {
                return client;
            }

            if (client is not null)
            {
                _ = client.DisposeAsync().AsTask();
            }

            client = BrokerClient.ForEndpoint(endpoint, $"levee-txn-markers-{options.NodeId}", ReplicationTimeout + TimeSpan.FromSeconds(5), tls);
            _clients[brokerId] = client;
            return client;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        List<BrokerClient> clients;
        lock (_lock)
        {
            clients = [.. _clients.Values];
            _clients.Clear();
        }

        foreach (var client in clients)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventName = "TxnMarkerSuperseded", Level = LogLevel.Information, Message = "Marker of producer {ProducerId} on {Partition} refused with {Error}: a newer epoch or coordinator wrote there; not retried")]
    private partial void LogMarkerSuperseded(TopicPartition partition, long producerId, ErrorCode error);

    [LoggerMessage(EventName = "TxnMarkerRetry", Level = LogLevel.Debug, Message = "Marker of producer {ProducerId} on {Partition}: {Error}; retrying")]
    private partial void LogMarkerRetry(TopicPartition partition, long producerId, ErrorCode error);

    [LoggerMessage(EventName = "TxnMarkerFailed", Level = LogLevel.Warning, Message = "Writing a transaction marker to {Partition} failed: {Problem}")]
    private partial void LogMarkerFailed(Exception? e, TopicPartition partition, string problem);

    [LoggerMessage(EventName = "TxnMarkerLeaderFailed", Level = LogLevel.Warning, Message = "Markers of producer {ProducerId} on broker {BrokerId} failed; retrying")]
    private partial void LogLeaderFailed(Exception e, int brokerId, long producerId);

    [LoggerMessage(EventName = "TxnMarkerSendFailed", Level = LogLevel.Warning, Message = "Sending transaction markers to broker {BrokerId} at {Address} failed: {Problem}")]
    private partial void LogSendFailed(int brokerId, string address, string problem);
}
