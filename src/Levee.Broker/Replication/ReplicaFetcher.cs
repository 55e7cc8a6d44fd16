using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Storage;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Replication;

/// <summary>
/// The follower side of replication for the partitions led by one broker: a loop of Fetch
/// requests carrying this broker's replica id, each asking from the local log end with the last
/// fetched leader epoch (KIP-320). Returned batches are appended with their offsets; a diverging
/// epoch truncates the local tail first. The leader learns each follower's log end from these
/// fetches and moves the high watermark and the ISR from them.
/// </summary>
/// <remarks>
/// The loop never stops by itself: a failed round (connection, timeout, any exception) is logged
/// and retried with back-off, and a partition whose answer cannot be applied, or that the leader
/// answers with an error, is set aside with its own back-off while the others go on. Topics are
/// named by id (Fetch v13), so a topic deleted and created again under the same name is never
/// mixed with its earlier generation on either side.
/// </remarks>
public sealed partial class ReplicaFetcher : IAsyncDisposable
{
    private const short FetchVersion = 13;
    private const int ReplicaFetchMaxBytes = 1024 * 1024;
    private const int ReplicaFetchResponseMaxBytes = 10 * 1024 * 1024;
    private const int MinBackoffMs = 100;
    private const int MaxBackoffMs = 5_000;
    private static readonly TimeSpan IdleWait = TimeSpan.FromSeconds(1);

    // Failures in a row (about 12 s of back-off) after which a partition's error answers are a warning.
    private const int PersistentFailures = 8;
    private readonly BrokerClient _client;
    private readonly BrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<Partition, PartitionFetchState> _states = new(ReferenceEqualityComparer.Instance);
    private readonly Task _loop;
    private volatile IReadOnlyList<Partition> _partitions = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _rotation;
    private readonly FailureRun _roundFailures = new(FailureRun.DefaultSummaryInterval);
    private long _lastRoundMs;
    private volatile bool _stalled;

    /// <summary>Starts fetching; partitions are given with <see cref="SetPartitions"/>.</summary>
    public ReplicaFetcher(BrokerClient client, BrokerOptions options, TimeProvider time, ILogger<ReplicaFetcher> logger)
    {
        _client = client;
        _options = options;
        _time = time;
        _logger = logger;
        _lastRoundMs = NowMs;
        _loop = RunAsync(_stopping.Token);
    }

    /// <summary>host:port of the leader fetched from.</summary>
    public string Address => _client.Address;

    /// <summary>
    /// False once the loop has ended without being asked to (a bug): the manager replaces such a fetcher.
    /// Also false when no round has started for <paramref name="stuckAfterMs"/> (a call that hangs past
    /// every timeout), or when a partition has made no progress for replica.lag.time.max.ms while its
    /// leader has records it lacks: a fresh fetcher (new connection, new state) takes over.
    /// </summary>
    public bool IsHealthy(long stuckAfterMs) => !_loop.IsCompleted && !_stalled && NowMs - Interlocked.Read(ref _lastRoundMs) <= stuckAfterMs;

    /// <summary>Replaces the partitions fetched.</summary>
    public void SetPartitions(IReadOnlyList<Partition> partitions)
    {
        _partitions = partitions;
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>
    /// Stops the loop and waits for it: once this returns, no fetched batch is applied any more, so the
    /// logs may be closed.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        catch (Exception ex)
        {
            LogLoopFailed(_client.Address, ex);
        }

        await _client.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        while (!cancellationToken.IsCancellationRequested)
        {
            var changed = Volatile.Read(ref _changed);
            var now = NowMs;
            Interlocked.Exchange(ref _lastRoundMs, now);
            var followed = _partitions.Where(p => !p.IsLeader && p.LeaderId >= 0).ToList();
            ForgetStatesExcept(followed);
            var ready = followed.Where(p => State(p).BackoffUntilMs <= now).ToList();
            if (ready.Count == 0)
            {
                var wait = followed.Count == 0 ? IdleWait : TimeSpan.FromMilliseconds(Math.Max(1, followed.Min(p => State(p).BackoffUntilMs) - now));
                await WaitAsync(changed, wait, cancellationToken).ConfigureAwait(false);
                continue;
            }

            try
            {
                await FetchOnceAsync(Rotate(ready), cancellationToken).ConfigureAwait(false);
                if (_roundFailures.Succeeded(NowMs) is { } ended)
                {
                    LogFetchRecovered(_client.Address, ended.Failures, ended.DurationMs);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Whatever went wrong (the connection, a timeout, a bug), the loop goes on: a fetcher that
                // ends silently leaves every partition of its leader out of the ISR for good.
                // One line when the rounds start failing, one with the count every half minute, one when they work again.
                var note = _roundFailures.Failed(NowMs);
                var backoffMs = Backoff(note.Failures);
                switch (note.Kind)
                {
                    case FailureNoteKind.Started:
                        LogFetchFailed(_client.Address, backoffMs, ex.GetType().Name, ex.Message);
                        break;
                    case FailureNoteKind.Repeated:
                        LogFetchStillFailing(_client.Address, note.SinceLastReport, note.DurationMs / 1000.0, ex.GetType().Name, ex.Message);
                        break;
                    default:
                        LogFetchRetrying(_client.Address, note.Failures, backoffMs, ex);
                        break;
                }

                await WaitAsync(changed, TimeSpan.FromMilliseconds(backoffMs), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // Waits for new partitions, the timeout or the stop, whichever comes first.
    private static async Task WaitAsync(TaskCompletionSource changed, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await changed.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Time to try again.
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the loop condition ends it.
        }
    }

    private static int Backoff(long failures) => Math.Min(MaxBackoffMs, MinBackoffMs << (int)Math.Min(failures - 1, 6));

    private PartitionFetchState State(Partition partition)
    {
        if (!_states.TryGetValue(partition, out var state))
        {
            state = new PartitionFetchState { LastProgressMs = NowMs };
            _states[partition] = state;
        }

        return state;
    }

    private void ForgetStatesExcept(List<Partition> followed)
    {
        if (_states.Count > followed.Count)
        {
            var keep = followed.ToHashSet(ReferenceEqualityComparer.Instance);
            foreach (var gone in _states.Keys.Where(p => !keep.Contains(p)).ToList())
            {
                _states.Remove(gone);
            }
        }
    }

    // The leader fills its response in request order up to a byte budget: starting each round at another
    // partition keeps the last ones from starving behind busy ones.
    private List<Partition> Rotate(List<Partition> partitions)
    {
        var start = (int)((uint)_rotation++ % (uint)partitions.Count);
        return start == 0 ? partitions : [.. partitions.Skip(start), .. partitions.Take(start)];
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
        var asked = new Dictionary<(Guid, int), (Partition Partition, int Epoch)>();
        foreach (var group in partitions.GroupBy(p => p.TopicId))
        {
            var topic = new FetchRequest.FetchTopic { TopicId = group.Key };
            foreach (var partition in group)
            {
                var log = partition.Log;
                asked[(group.Key, partition.Id.Partition)] = (partition, partition.LeaderEpoch);
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

        // Stopping: the logs may be closing; nothing more is applied.
        cancellationToken.ThrowIfCancellationRequested();
        if (response.ErrorCode != 0)
        {
            throw new IOException($"the leader answered the fetch with {(ErrorCode)response.ErrorCode}");
        }

        var now = NowMs;
        foreach (var topic in response.Responses)
        {
            foreach (var data in topic.Partitions)
            {
                if (!asked.Remove((topic.TopicId, data.PartitionIndex), out var entry)
                    || entry.Partition.IsLeader
                    || entry.Partition.LeaderEpoch != entry.Epoch)
                {
                    // Leadership moved while the fetch was in flight: the next round re-plans.
                    continue;
                }

                ApplyIsolated(entry.Partition, data, now);
            }
        }
    }

    // One partition's answer: applied, or set aside with its own back-off, never failing the others.
    private void ApplyIsolated(Partition partition, FetchResponse.PartitionData data, long now)
    {
        var state = State(partition);
        var endBefore = partition.Log.LogEndOffset;
        string? problem;
        var unexpected = false;
        try
        {
            problem = Apply(partition, data);
        }
        catch (ObjectDisposedException)
        {
            // The replica was deleted or the broker is stopping while the fetch was in flight: the next
            // round no longer has it.
            state.BackoffUntilMs = now + MaxBackoffMs;
            return;
        }
        catch (IOException ex) when (DiskSpace.IsOutOfSpace(ex))
        {
            // Expected, and retried with back-off: the log says once when its appends start and stop failing.
            problem = "this broker's log directory is full";
        }
        catch (Exception ex)
        {
            problem = $"{ex.GetType().Name}: {ex.Message}";
            unexpected = true;
        }

        if (problem is not null)
        {
            var note = state.Failures.Failed(now);
            var backoffMs = Backoff(note.Failures);
            state.BackoffUntilMs = now + backoffMs;

            // An error answer is usually brief (the leader has not applied a new topic or leadership yet): it is
            // a warning once it persists. A batch that cannot be applied is one at once.
            if (unexpected || note.Kind != FailureNoteKind.Counted || (note.Failures > PersistentFailures && problem != state.LastProblem))
            {
                LogPartitionFailed(partition.Id.ToString(), _client.Address, note.Failures, backoffMs, problem);
            }
            else
            {
                LogPartitionRetrying(partition.Id.ToString(), _client.Address, note.Failures, backoffMs, problem);
            }

            state.LastProblem = problem;
            return;
        }

        if (state.Failures.Succeeded(now) is { WasReported: true } ended)
        {
            LogPartitionRecovered(partition.Id.ToString(), _client.Address, ended.Failures);
        }

        state.LastProblem = null;
        state.BackoffUntilMs = 0;
        var end = partition.Log.LogEndOffset;
        if (end != endBefore || end >= data.HighWatermark)
        {
            state.LastProgressMs = now;
            state.StallLogged = false;
        }
        else if (!state.StallLogged && now - state.LastProgressMs > _options.ReplicaLagTimeMaxMs)
        {
            // The leader has records we lack but none came for a long time: say so once.
            state.StallLogged = true;
            _stalled = true;
            LogNoProgress(partition.Id.ToString(), _client.Address, end, data.HighWatermark, now - state.LastProgressMs);
        }
    }

    // Returns why the partition made no progress, or null when the answer was applied.
    private string? Apply(Partition partition, FetchResponse.PartitionData data)
    {
        var error = (ErrorCode)data.ErrorCode;
        if (data.DivergingEpoch.Epoch >= 0 || data.DivergingEpoch.EndOffset >= 0)
        {
            var log = partition.Log;
            var to = FollowerTruncation.Offset(data.DivergingEpoch.Epoch, data.DivergingEpoch.EndOffset, log.LeaderEpochs, log.LogEndOffset, log.HighWatermark);
            LogTruncating(partition.Id.ToString(), log.LogEndOffset, to, data.DivergingEpoch.Epoch, data.DivergingEpoch.EndOffset);
            partition.TruncateTo(to);
            return null;
        }

        switch (error)
        {
            case ErrorCode.None:
                var records = data.Records ?? ReadOnlyMemory<byte>.Empty;
                partition.AppendAsFollower(records.Span, data.HighWatermark);
                return null;
            case ErrorCode.OffsetOutOfRange when partition.Log.LogEndOffset > data.HighWatermark && data.HighWatermark >= 0:
                // Our log is ahead of the leader's: the tail was never committed.
                partition.TruncateTo(data.HighWatermark);
                return null;
            default:
                return $"the leader answered {error}";
        }
    }

    private sealed class PartitionFetchState
    {
        public long BackoffUntilMs { get; set; }

        public FailureRun Failures { get; } = new(FailureRun.DefaultSummaryInterval, PersistentFailures);

        public string? LastProblem { get; set; }

        public long LastProgressMs { get; set; }

        public bool StallLogged { get; set; }
    }

    [LoggerMessage(EventName = "ReplicaFetchFailing", Level = LogLevel.Warning, Message = "Replica fetch from {Leader} failed, retrying in {BackoffMs} ms (further failures are counted): {Kind}: {Problem}")]
    private partial void LogFetchFailed(string leader, int backoffMs, string kind, string problem);

    [LoggerMessage(EventName = "ReplicaFetchStillFailing", Level = LogLevel.Warning, Message = "Replica fetch from {Leader} still failing: {Failures} more failed round(s), {DurationS:0} s since it started: {Kind}: {Problem}")]
    private partial void LogFetchStillFailing(string leader, long failures, double durationS, string kind, string problem);

    [LoggerMessage(EventName = "ReplicaFetchRetrying", Level = LogLevel.Debug, Message = "Replica fetch from {Leader} failed ({Failures} in a row), retrying in {BackoffMs} ms")]
    private partial void LogFetchRetrying(string leader, long failures, int backoffMs, Exception exception);

    [LoggerMessage(EventName = "ReplicaFetchRecovered", Level = LogLevel.Information, Message = "Replica fetch from {Leader} works again after {Failures} failed round(s) in {DurationMs} ms")]
    private partial void LogFetchRecovered(string leader, long failures, long durationMs);

    [LoggerMessage(EventName = "PartitionFailed", Level = LogLevel.Warning, Message = "Follower {Partition}: fetch from {Leader} failed ({Failures} in a row), retrying it in {BackoffMs} ms: {Problem}")]
    private partial void LogPartitionFailed(string partition, string leader, long failures, int backoffMs, string problem);

    [LoggerMessage(EventName = "PartitionRetrying", Level = LogLevel.Debug, Message = "Follower {Partition}: fetch from {Leader} failed ({Failures} in a row), retrying it in {BackoffMs} ms: {Problem}")]
    private partial void LogPartitionRetrying(string partition, string leader, long failures, int backoffMs, string problem);

    [LoggerMessage(EventName = "PartitionRecovered", Level = LogLevel.Information, Message = "Follower {Partition}: fetch from {Leader} works again after {Failures} failure(s)")]
    private partial void LogPartitionRecovered(string partition, string leader, long failures);

    [LoggerMessage(EventName = "NoProgress", Level = LogLevel.Warning, Message = "Follower {Partition}: no progress from {Leader} for {StalledMs} ms while it is behind (log end {End}, leader's high watermark {LeaderHighWatermark})")]
    private partial void LogNoProgress(string partition, string leader, long end, long leaderHighWatermark, long stalledMs);

    [LoggerMessage(EventName = "Truncating", Level = LogLevel.Information, Message = "Follower {Partition}: truncating from {From} to {To} (the leader's epoch {Epoch} ends at {LeaderEnd})")]
    private partial void LogTruncating(string partition, long from, long to, int epoch, long leaderEnd);

    [LoggerMessage(EventName = "LoopFailed", Level = LogLevel.Error, Message = "Replica fetcher for {Leader} ended with an error")]
    private partial void LogLoopFailed(string leader, Exception exception);
}
