using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Replication;

/// <summary>
/// The follower side of replication for the partitions led by one broker: a loop of Fetch
/// requests carrying this broker's replica id, each asking from the local log end with the last
/// fetched leader epoch (KIP-320). Returned batches are appended with their offsets; a diverging
/// epoch truncates the local tail first. The leader learns each follower's log end from these
/// fetches and moves the high watermark and the ISR from them.
/// </summary>
public sealed partial class ReplicaFetcher : IAsyncDisposable
{
    private const short FetchVersion = 12;
    private const int ReplicaFetchMaxBytes = 1024 * 1024;
    private const int ReplicaFetchResponseMaxBytes = 10 * 1024 * 1024;
    private readonly BrokerClient _client;
    private readonly BrokerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private volatile IReadOnlyList<Partition> _partitions = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Starts fetching; partitions are given with <see cref="SetPartitions"/>.</summary>
    public ReplicaFetcher(BrokerClient client, BrokerOptions options, ILogger<ReplicaFetcher> logger)
    {
        _client = client;
        _options = options;
        _logger = logger;
        _loop = RunAsync(_stopping.Token);
    }

    /// <summary>host:port of the leader fetched from.</summary>
    public string Address => _client.Address;

    /// <summary>Replaces the partitions fetched.</summary>
    public void SetPartitions(IReadOnlyList<Partition> partitions)
    {
        _partitions = partitions;
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        await _client.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        while (!cancellationToken.IsCancellationRequested)
        {
            var changed = Volatile.Read(ref _changed);
            var partitions = _partitions.Where(p => !p.IsLeader && p.LeaderId >= 0).ToList();
            if (partitions.Count == 0)
            {
                await changed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            try
            {
                await FetchOnceAsync(partitions, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                LogFetchFailed(_client.Address, ex.Message);
                try
                {
                    // Back off before reconnecting, or until the leadership changes.
                    await changed.Task.WaitAsync(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Try again.
                }
            }
        }
    }

    private async Task FetchOnceAsync(List<Partition> partitions, CancellationToken cancellationToken)
    {
        var request = new FetchRequest
        {
            ReplicaId = _options.NodeId,
            MaxWaitMs = _options.ReplicaFetchWaitMaxMs,
            MinBytes = 1,
            MaxBytes = ReplicaFetchResponseMaxBytes,
            SessionId = 0,
            SessionEpoch = -1,
        };
        var epochs = new Dictionary<(string, int), int>();
        foreach (var group in partitions.GroupBy(p => p.Id.Topic))
        {
            var topic = new FetchRequest.FetchTopic { Topic = group.Key };
            foreach (var partition in group)
            {
                var log = partition.Log;
                epochs[(partition.Id.Topic, partition.Id.Partition)] = partition.LeaderEpoch;
                topic.Partitions.Add(new FetchRequest.FetchPartition
                {
                    Partition = partition.Id.Partition,
                    CurrentLeaderEpoch = partition.LeaderEpoch,
                    FetchOffset = log.LogEndOffset,
                    LastFetchedEpoch = log.LeaderEpochs.Count > 0 ? log.LatestEpoch : -1,
                    LogStartOffset = log.LogStartOffset,
                    PartitionMaxBytes = ReplicaFetchMaxBytes,
                });
            }

            request.Topics.Add(topic);
        }

        var response = await _client.SendAsync<FetchRequest, FetchResponse>(ApiKey.Fetch, FetchVersion, request, cancellationToken).ConfigureAwait(false);
        var byId = partitions.ToDictionary(p => (p.Id.Topic, p.Id.Partition));
        var stalled = true;
        foreach (var topic in response.Responses)
        {
            foreach (var data in topic.Partitions)
            {
                if (!byId.TryGetValue((topic.Topic, data.PartitionIndex), out var partition)
                    || partition.IsLeader
                    || partition.LeaderEpoch != epochs[(topic.Topic, data.PartitionIndex)])
                {
                    // Leadership moved while the fetch was in flight: the next round re-plans.
                    continue;
                }

                stalled &= Apply(partition, data);
            }
        }

        if (stalled)
        {
            // Every partition answered with an error (e.g. the leader does not know it leads yet):
            // wait a little or for new metadata rather than spin.
            try
            {
                await Volatile.Read(ref _changed).Task.WaitAsync(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Try again.
            }
        }
    }

    // Returns true when the partition made no progress because of an error.
    private bool Apply(Partition partition, FetchResponse.PartitionData data)
    {
        var error = (ErrorCode)data.ErrorCode;
        if (data.DivergingEpoch.Epoch >= 0 || data.DivergingEpoch.EndOffset >= 0)
        {
            var end = data.DivergingEpoch.EndOffset;
            LogTruncating(partition.Id.ToString(), partition.Log.LogEndOffset, end, data.DivergingEpoch.Epoch);
            partition.TruncateTo(end);
            return false;
        }

        switch (error)
        {
            case ErrorCode.None:
                var records = data.Records ?? ReadOnlyMemory<byte>.Empty;
                partition.AppendAsFollower(records.Span, data.HighWatermark);
                return false;
            case ErrorCode.OffsetOutOfRange when partition.Log.LogEndOffset > data.HighWatermark && data.HighWatermark >= 0:
                // Our log is ahead of the leader's: the tail was never committed.
                partition.TruncateTo(data.HighWatermark);
                return false;
            default:
                LogPartitionError(partition.Id.ToString(), _client.Address, error);
                return true;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Replica fetch from {Leader} failed: {Problem}")]
    private partial void LogFetchFailed(string leader, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Follower {Partition}: truncating from {From} to {To} (diverging at leader epoch {Epoch})")]
    private partial void LogTruncating(string partition, long from, long to, int epoch);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Follower {Partition}: leader {Leader} answered {Error}")]
    private partial void LogPartitionError(string partition, string leader, ErrorCode error);
}
