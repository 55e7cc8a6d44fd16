using Levee.Broker.Groups;
using Levee.Broker.Partitions;
using Levee.Broker.Producers;
using Levee.Protocol;
using Levee.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Transactions;

/// <summary>
/// Kafka's transaction coordinator (KIP-98) for the transactional ids whose <c>__transaction_state</c> partition
/// this broker leads: InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
/// DescribeTransactions and ListTransactions, the markers that end a transaction, and the abort of transactions
/// that outlive their timeout.
/// <para>
/// Every transition is written to the id's partition and waits for its ISR before it takes effect (acks=all), so a
/// new leader of the partition loads exactly what was answered: coordinator failover resumes the transactions in
/// PrepareCommit/PrepareAbort by sending their markers again (markers are idempotent at the partitions). The
/// partition's leader epoch is the coordinator epoch the markers carry: a deposed coordinator's late markers are
/// refused by the partitions (TRANSACTION_COORDINATOR_FENCED).
/// </para>
/// </summary>
public sealed partial class TransactionCoordinator : IHostedService, IAsyncDisposable
{
    /// <summary>The internal topic holding the transactions' state.</summary>
    public const string StateTopic = "__transaction_state";

    /// <summary>How long a write to __transaction_state may wait for its ISR.</summary>
    private const int WriteTimeoutMs = 5000;

    private readonly Dictionary<int, TransactionOwnedPartition> _owned = [];
    private readonly Lock _ownershipLock = new();
    private readonly ReplicaManager _replicas;
    private readonly ProducerIdManager _producerIds;
    private readonly TransactionMarkerChannel _markers;
    private readonly BrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _topicLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private int _statePartitions;
    private Task? _timeoutLoop;

    /// <summary>Creates the coordinator; <see cref="StartAsync"/> loads the partitions led here.</summary>
    public TransactionCoordinator(ReplicaManager replicas, ProducerIdManager producerIds, TransactionMarkerChannel markers, BrokerOptions options, TimeProvider time, ILogger<TransactionCoordinator> logger)
    {
        _replicas = replicas;
        _producerIds = producerIds;
        _markers = markers;
        _options = options;
        _time = time;
        _logger = logger;
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _replicas.PartitionsChanged += OnPartitionsChanged;
        SyncOwnership();
        _timeoutLoop = Task.Run(() => AbortTimedOutLoopAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _replicas.PartitionsChanged -= OnPartitionsChanged;
        await _stopping.CancelAsync().ConfigureAwait(false);
        lock (_ownershipLock)
        {
            foreach (var owned in _owned.Values)
            {
                owned.MarkUnloaded();
            }

            _owned.Clear();
        }

        if (_timeoutLoop is not null)
        {
            await _timeoutLoop.ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        _stopping.Dispose();
        _topicLock.Dispose();
    }

    /// <summary>
    /// InitProducerId for a transactional id. A new id gets a new producer id with epoch 0; a known one has its
    /// epoch bumped (a new producer id when the epoch is exhausted), which fences every older instance of the
    /// producer. A transaction left open by an older instance is aborted first and the answer is
    /// CONCURRENT_TRANSACTIONS, which the client retries. With <paramref name="producerId"/> and
    /// <paramref name="epoch"/> (KIP-360, v3+) they must be the id's current ones, or the previous ones of a retried
    /// request, else PRODUCER_FENCED.
    /// </summary>
    public async Task<(ErrorCode Error, long ProducerId, short Epoch)> InitProducerIdAsync(string transactionalId, int timeoutMs, long producerId, short epoch, CancellationToken cancellationToken)
    {
        if (timeoutMs <= 0 || timeoutMs > _options.TransactionMaxTimeoutMs)
        {
            return (ErrorCode.InvalidTransactionTimeout, -1, -1);
        }

        if (!await TryEnsureStateTopicAsync(cancellationToken).ConfigureAwait(false))
        {
            return (ErrorCode.CoordinatorNotAvailable, -1, -1);
        }

        var ownerError = Owner(transactionalId, out var owner);
        if (ownerError != ErrorCode.None)
        {
            return (ownerError, -1, -1);
        }

        var now = NowMs;
        if (!owner!.Entries.TryGetValue(transactionalId, out var entry))
        {
            var (error, newId, _) = await _producerIds.InitProducerAsync(-1, -1, cancellationToken).ConfigureAwait(false);
            if (error != ErrorCode.None)
            {
                return (error, -1, -1);
            }

            var created = new TransactionEntry(transactionalId, owner, new TransactionSnapshot(newId, -1, -1, -1, timeoutMs, TransactionState.Empty, [], -1, now)) { Pending = true };
            if (!owner.Entries.TryAdd(transactionalId, created))
            {
                return (ErrorCode.ConcurrentTransactions, -1, -1);
            }

            entry = created;
            var first = created.Current with { ProducerEpoch = 0 };
            var written = await WriteAsync(entry, first).ConfigureAwait(false);
            lock (entry.Sync)
            {
                entry.Pending = false;
            }

            if (written != ErrorCode.None)
            {
                owner.Entries.TryRemove(new KeyValuePair<string, TransactionEntry>(transactionalId, entry));
                return (written, -1, -1);
            }

            LogInitialised(transactionalId, newId, 0);
            return (ErrorCode.None, newId, 0);
        }

        TransactionSnapshot? next;
        bool fence;
        lock (entry.Sync)
        {
            var current = entry.Current;
            if (entry.Pending || current.State.IsPreparing())
            {
                return (ErrorCode.ConcurrentTransactions, -1, -1);
            }

            if (producerId >= 0)
            {
                var isCurrent = producerId == current.ProducerId && epoch == current.ProducerEpoch;
                var isRetry = (producerId == current.ProducerId && epoch == current.PreviousEpoch) || (producerId == current.PreviousProducerId && current.ProducerEpoch == 0);
                if (isRetry && current.State != TransactionState.Ongoing)
                {
                    return (ErrorCode.None, current.ProducerId, current.ProducerEpoch);
                }

                if (!isCurrent)
                {
                    return (ErrorCode.ProducerFenced, -1, -1);
                }
            }

            fence = current.State == TransactionState.Ongoing;
            if (fence)
            {
                // An older instance left a transaction open: bump the epoch to fence it and abort its transaction
                // with the new epoch. The client retries (CONCURRENT_TRANSACTIONS) and gets the next epoch.
                next = current with { ProducerEpoch = (short)(current.ProducerEpoch + 1), PreviousEpoch = current.ProducerEpoch, State = TransactionState.PrepareAbort, UpdateMs = now };
            }
            else if (current.ProducerEpoch >= short.MaxValue - 1)
            {
                next = null;
            }
            else
            {
                next = current with { ProducerEpoch = (short)(current.ProducerEpoch + 1), PreviousEpoch = current.ProducerEpoch, PreviousProducerId = -1, TimeoutMs = timeoutMs, State = TransactionState.Empty, Partitions = [], StartMs = -1, UpdateMs = now };
            }

            entry.Pending = true;
        }

        if (next is null)
        {
            // Epoch exhausted: a new producer id. Not cancelled with the request: the id is pending meanwhile, and the
            // allocation is bounded by its own timeout.
            var (error, newId, _) = await _producerIds.InitProducerAsync(-1, -1, CancellationToken.None).ConfigureAwait(false);
            if (error != ErrorCode.None)
            {
                ClearPending(entry);
                return (error, -1, -1);
            }

            var current = entry.Current;
            next = current with { ProducerId = newId, PreviousProducerId = current.ProducerId, ProducerEpoch = 0, PreviousEpoch = -1, TimeoutMs = timeoutMs, State = TransactionState.Empty, Partitions = [], StartMs = -1, UpdateMs = now };
        }

        var result = await WriteAsync(entry, next).ConfigureAwait(false);
        if (result != ErrorCode.None)
        {
            ClearPending(entry);
            return (result, -1, -1);
        }

        if (fence)
        {
            LogFenced(transactionalId, next.ProducerId, next.ProducerEpoch);
            StartCompletion(entry, next);
            return (ErrorCode.ConcurrentTransactions, -1, -1);
        }

        ClearPending(entry);
        LogInitialised(transactionalId, next.ProducerId, next.ProducerEpoch);
        return (ErrorCode.None, next.ProducerId, next.ProducerEpoch);
    }

    /// <summary>
    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's __consumer_offsets partition): the partitions join
    /// the transaction, which becomes Ongoing. PRODUCER_FENCED for an old epoch, INVALID_PRODUCER_ID_MAPPING for
    /// another producer id, CONCURRENT_TRANSACTIONS while the previous transaction is completing.
    /// </summary>
    public async Task<ErrorCode> AddPartitionsAsync(string transactionalId, long producerId, short epoch, IReadOnlyCollection<TopicPartition> partitions)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        var found = Find(transactionalId, ErrorCode.InvalidProducerIdMapping, out var entry);
        if (found != ErrorCode.None)
        {
            return found;
        }

        TransactionSnapshot next;
        lock (entry.Sync)
        {
            var current = entry.Current;
            var error = CheckProducer(current, producerId, epoch);
            if (error != ErrorCode.None)
            {
                return error;
            }

            if (entry.Pending || current.State.IsPreparing())
            {
                return ErrorCode.ConcurrentTransactions;
            }

            if (current.State == TransactionState.Ongoing && partitions.All(current.Partitions.Contains))
            {
                return ErrorCode.None;
            }

            var now = NowMs;
            next = current.State == TransactionState.Ongoing
                ? current with { Partitions = current.Partitions.Union(partitions), UpdateMs = now }
                : current with { State = TransactionState.Ongoing, Partitions = [.. partitions], StartMs = now, UpdateMs = now };
            entry.Pending = true;
        }

        var written = await WriteAsync(entry, next).ConfigureAwait(false);
        ClearPending(entry);
        return written;
    }

    /// <summary>
    /// AddPartitionsToTxn v4+ with verify-only (KIP-890): whether <paramref name="partition"/> is in the
    /// producer's ongoing transaction; INVALID_TXN_STATE when it is not (TRANSACTION_ABORTABLE from v5).
    /// </summary>
    public ErrorCode Verify(string transactionalId, long producerId, short epoch, TopicPartition partition)
    {
        var found = Find(transactionalId, ErrorCode.InvalidProducerIdMapping, out var entry);
        if (found != ErrorCode.None)
        {
            return found;
        }

        lock (entry.Sync)
        {
            var current = entry.Current;
            var error = CheckProducer(current, producerId, epoch);
            return error != ErrorCode.None ? error
                : current.State == TransactionState.Ongoing && current.Partitions.Contains(partition) ? ErrorCode.None
                : ErrorCode.InvalidTxnState;
        }
    }

    /// <summary>Whether transactional writes are verified with the coordinator first (transaction.partition.verification.enable, KIP-890).</summary>
    public bool VerificationEnabled => _options.TransactionPartitionVerificationEnable;

    /// <summary>
    /// <see cref="Verify"/> wherever the id's coordinator is: here, or the broker leading its __transaction_state
    /// partition, asked with AddPartitionsToTxn v4 (verify-only) over the inter-broker listener. COORDINATOR_NOT_AVAILABLE
    /// when no coordinator can answer.
    /// </summary>
    public async Task<ErrorCode> VerifyAnywhereAsync(string transactionalId, long producerId, short epoch, TopicPartition partition, CancellationToken cancellationToken)
    {
        var local = Verify(transactionalId, producerId, epoch, partition);
        if (local is not (ErrorCode.NotCoordinator or ErrorCode.CoordinatorLoadInProgress))
        {
            return local;
        }

        var image = _replicas.Image;
        if (!image.TopicsByName.TryGetValue(StateTopic, out var topic) ||
            !topic.Partitions.TryGetValue(GroupCoordinator.PartitionFor(transactionalId, topic.Partitions.Count), out var state) ||
            state.Leader < 0 || state.Leader == _replicas.LocalBrokerId)
        {
            return ErrorCode.CoordinatorNotAvailable;
        }

        return await _markers.VerifyAsync(state.Leader, transactionalId, producerId, epoch, partition, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// EndTxn: commits or aborts the ongoing transaction. The answer comes once PrepareCommit/PrepareAbort is
    /// written; the markers follow, then CompleteCommit/CompleteAbort, and until then the id answers
    /// CONCURRENT_TRANSACTIONS. A retry after completion gets NONE; the opposite result INVALID_TXN_STATE.
    /// </summary>
    public async Task<ErrorCode> EndTransactionAsync(string transactionalId, long producerId, short epoch, bool commit)
    {
        var found = Find(transactionalId, ErrorCode.InvalidProducerIdMapping, out var entry);
        if (found != ErrorCode.None)
        {
            return found;
        }

        TransactionSnapshot next;
        lock (entry.Sync)
        {
            var current = entry.Current;
            var error = CheckProducer(current, producerId, epoch);
            if (error != ErrorCode.None)
            {
                return error;
            }

            switch (current.State)
            {
                case TransactionState.Ongoing when !entry.Pending:
                    break;
                case TransactionState.CompleteCommit when !entry.Pending:
                    return commit ? ErrorCode.None : ErrorCode.InvalidTxnState;
                case TransactionState.CompleteAbort when !entry.Pending:
                    return commit ? ErrorCode.InvalidTxnState : ErrorCode.None;
                case TransactionState.PrepareCommit:
                    return commit ? ErrorCode.ConcurrentTransactions : ErrorCode.InvalidTxnState;
                case TransactionState.PrepareAbort:
                    return commit ? ErrorCode.InvalidTxnState : ErrorCode.ConcurrentTransactions;
                case TransactionState.Empty when !entry.Pending:
                    return ErrorCode.InvalidTxnState;
                default:
                    return ErrorCode.ConcurrentTransactions;
            }

            next = current with { State = commit ? TransactionState.PrepareCommit : TransactionState.PrepareAbort, UpdateMs = NowMs };
            entry.Pending = true;
        }

        var written = await WriteAsync(entry, next).ConfigureAwait(false);
        if (written != ErrorCode.None)
        {
            ClearPending(entry);
            return written;
        }

        StartCompletion(entry, next);
        return ErrorCode.None;
    }

    /// <summary>The state of a transactional id coordinated here (DescribeTransactions).</summary>
    public (ErrorCode Error, TransactionSnapshot? State) Describe(string transactionalId)
    {
        var found = Find(transactionalId, ErrorCode.TransactionalIdNotFound, out var entry);
        if (found != ErrorCode.None)
        {
            return (found, null);
        }

        lock (entry.Sync)
        {
            return (ErrorCode.None, entry.Current);
        }
    }

    /// <summary>Every transactional id coordinated here with its state (ListTransactions), in id order.</summary>
    public IReadOnlyList<(string TransactionalId, TransactionSnapshot State)> List()
    {
        List<TransactionOwnedPartition> owned;
        lock (_ownershipLock)
        {
            owned = [.. _owned.Values.Where(o => o.IsServing)];
        }

        var result = new List<(string, TransactionSnapshot)>();
        foreach (var partition in owned)
        {
            foreach (var entry in partition.Entries.Values)
            {
                lock (entry.Sync)
                {
                    result.Add((entry.TransactionalId, entry.Current));
                }
            }
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return result;
    }

    /// <summary>The __consumer_offsets partition of a group, which AddOffsetsToTxn adds to the transaction; null while that topic does not exist.</summary>
    public TopicPartition? OffsetsPartitionFor(string groupId) =>
        _replicas.Topics.TryGet(GroupCoordinator.OffsetsTopic, out var topic)
            ? new TopicPartition(GroupCoordinator.OffsetsTopic, GroupCoordinator.PartitionFor(groupId, topic.PartitionCount))
            : null;

    /// <summary>Whether the partition exists in the metadata image (AddPartitionsToTxn's UNKNOWN_TOPIC_OR_PARTITION).</summary>
    public bool PartitionExists(TopicPartition partition) =>
        _replicas.Image.TopicsByName.TryGetValue(partition.Topic, out var topic) && topic.Partitions.ContainsKey(partition.Partition);

    /// <summary>The entry of a transactional id coordinated here; <paramref name="missing"/> when there is none, the coordinator error when not served here.</summary>
    private ErrorCode Find(string transactionalId, ErrorCode missing, out TransactionEntry entry)
    {
        entry = null!;
        var ownerError = Owner(transactionalId, out var owner);
        return ownerError != ErrorCode.None ? ownerError
            : owner!.Entries.TryGetValue(transactionalId, out entry!) ? ErrorCode.None
            : missing;
    }

    /// <summary>Kafka's checks of the producer named by a request against the id's current one.</summary>
    private static ErrorCode CheckProducer(TransactionSnapshot current, long producerId, short epoch) =>
        producerId != current.ProducerId ? ErrorCode.InvalidProducerIdMapping
        : epoch != current.ProducerEpoch ? ErrorCode.ProducerFenced
        : ErrorCode.None;

    private static void ClearPending(TransactionEntry entry)
    {
        lock (entry.Sync)
        {
            entry.Pending = false;
        }
    }

    /// <summary>
    /// Writes <paramref name="next"/> as the id's record and waits for the ISR; then it becomes the id's state.
    /// NOT_COORDINATOR once leadership moved, COORDINATOR_NOT_AVAILABLE when the write fails or times out (both
    /// send the client to find the coordinator again, as Kafka maps them).
    /// </summary>
    private async Task<ErrorCode> WriteAsync(TransactionEntry entry, TransactionSnapshot next)
    {
        var owner = entry.Owner;
        if (!owner.IsServing ||
            !_replicas.TryGetPartition(StateTopic, owner.Partition, out var partition) ||
            !partition.IsLeader ||
            partition.LeaderEpoch != owner.LeaderEpoch)
        {
            return ErrorCode.NotCoordinator;
        }

        var batch = Levee.Protocol.Records.RecordBatchBuilder.BuildToArray(
            new Levee.Protocol.Records.RecordBatchOptions(),
            [new Levee.Protocol.Records.RecordData(TransactionRecords.Key(entry.TransactionalId), TransactionRecords.Value(next), NowMs)]);
        long end;
        try
        {
            end = partition.Append(batch, useLogAppendTime: false).LastOffset + 1;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or ArgumentException)
        {
            LogWriteFailed(DiskSpace.StackTraceWorthy(e), entry.TransactionalId, e.Message);
            return ErrorCode.CoordinatorNotAvailable;
        }

        // Not cancelled with the request that caused it: once appended, a transition is followed to its end (or its
        // timeout), whether or not the client still waits, so that the id is never left pending.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(owner.Unloaded);
        timeout.CancelAfter(WriteTimeoutMs);
        try
        {
            await partition.WaitForHighWatermarkAsync(end, timeout.Token).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            return ErrorCode.NotCoordinator;
        }
        catch (OperationCanceledException)
        {
            return owner.Unloaded.IsCancellationRequested ? ErrorCode.NotCoordinator : ErrorCode.CoordinatorNotAvailable;
        }

        lock (entry.Sync)
        {
            entry.Current = next;
        }

        return ErrorCode.None;
    }

    /// <summary>
    /// Sends the markers of a prepared transaction to every partition in it, then writes its completion. Runs in
    /// the background; ends early when leadership moves (the next coordinator resumes from the prepared state).
    /// </summary>
    private void StartCompletion(TransactionEntry entry, TransactionSnapshot prepared) =>
        _ = Task.Run(() => CompleteAsync(entry, prepared), CancellationToken.None);

    private async Task CompleteAsync(TransactionEntry entry, TransactionSnapshot prepared)
    {
        var owner = entry.Owner;
        var commit = prepared.State == TransactionState.PrepareCommit;
        try
        {
            var delay = TimeSpan.FromMilliseconds(50);
            while (true)
            {
                try
                {
                    await _markers.WriteAsync(prepared.ProducerId, prepared.ProducerEpoch, commit, owner.LeaderEpoch, prepared.Partitions, owner.Unloaded).ConfigureAwait(false);
                    break;
                }
#pragma warning disable CA1031 // Retried whatever it was: the prepared transaction must end.
                catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    // Never give up a prepared transaction while this broker coordinates it: the id would stay pending.
                    LogMarkersFailed(e, entry.TransactionalId);
                    await Task.Delay(delay, _time, owner.Unloaded).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
                }
            }

            var done = prepared with { State = commit ? TransactionState.CompleteCommit : TransactionState.CompleteAbort, Partitions = [], UpdateMs = NowMs };
            delay = TimeSpan.FromMilliseconds(50);
            while (true)
            {
                var written = await WriteAsync(entry, done).ConfigureAwait(false);
                if (written is ErrorCode.None or ErrorCode.NotCoordinator)
                {
                    break;
                }

                await Task.Delay(delay, _time, owner.Unloaded).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }

            LogCompleted(entry.TransactionalId, prepared.ProducerId, prepared.ProducerEpoch, commit ? "committed" : "aborted", prepared.Partitions.Count);
        }
        catch (OperationCanceledException) when (owner.Unloaded.IsCancellationRequested)
        {
            // Leadership moved: the new coordinator sends the markers again from the prepared state.
        }
#pragma warning disable CA1031 // A background completion must not take the broker down; it is logged and the id stays pending until failover.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogCompletionFailed(e, entry.TransactionalId);
            return;
        }

        ClearPending(entry);
    }

    /// <summary>Aborts, with a bumped epoch, every ongoing transaction older than its timeout (transaction.abort.timed.out.transaction.cleanup.interval.ms).</summary>
    private async Task AbortTimedOutLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.TransactionAbortTimedOutCleanupIntervalMs), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await AbortTimedOutAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task AbortTimedOutAsync()
    {
        List<TransactionOwnedPartition> owned;
        lock (_ownershipLock)
        {
            owned = [.. _owned.Values.Where(o => o.IsServing)];
        }

        var now = NowMs;
        foreach (var partition in owned)
        {
            foreach (var entry in partition.Entries.Values)
            {
                TransactionSnapshot next;
                lock (entry.Sync)
                {
                    var current = entry.Current;
                    if (entry.Pending || current.State != TransactionState.Ongoing || current.StartMs + current.TimeoutMs > now)
                    {
                        continue;
                    }

                    next = current with { ProducerEpoch = (short)(current.ProducerEpoch + 1), PreviousEpoch = current.ProducerEpoch, State = TransactionState.PrepareAbort, UpdateMs = now };
                    entry.Pending = true;
                }

                LogTimedOut(entry.TransactionalId, next.ProducerId, next.TimeoutMs);
                if (await WriteAsync(entry, next).ConfigureAwait(false) == ErrorCode.None)
                {
                    StartCompletion(entry, next);
                }
                else
                {
                    ClearPending(entry);
                }
            }
        }
    }

    [LoggerMessage(EventName = "TransactionalIdInitialised", Level = LogLevel.Debug, Message = "Transactional id {TransactionalId}: producer id {ProducerId}, epoch {Epoch}")]
    private partial void LogInitialised(string transactionalId, long producerId, short epoch);

    [LoggerMessage(EventName = "TransactionFenced", Level = LogLevel.Information, Message = "Transactional id {TransactionalId} initialised again with a transaction open: epoch bumped to {Epoch} (producer id {ProducerId}), aborting the open transaction")]
    private partial void LogFenced(string transactionalId, long producerId, short epoch);

    [LoggerMessage(EventName = "TransactionTimedOut", Level = LogLevel.Information, Message = "Transactional id {TransactionalId} (producer id {ProducerId}): transaction open longer than its timeout of {TimeoutMs} ms; aborting it and fencing the producer")]
    private partial void LogTimedOut(string transactionalId, long producerId, int timeoutMs);

    [LoggerMessage(EventName = "TransactionCompleted", Level = LogLevel.Debug, Message = "Transactional id {TransactionalId} (producer id {ProducerId}, epoch {Epoch}) {Outcome}: markers written to {Partitions} partition(s)")]
    private partial void LogCompleted(string transactionalId, long producerId, short epoch, string outcome, int partitions);

    [LoggerMessage(EventName = "TransactionMarkersFailed", Level = LogLevel.Warning, Message = "Writing the markers of {TransactionalId}'s transaction failed; retrying")]
    private partial void LogMarkersFailed(Exception e, string transactionalId);

    [LoggerMessage(EventName = "TransactionCompletionFailed", Level = LogLevel.Error, Message = "Completing the transaction of {TransactionalId} failed; it stays pending until the coordinator moves")]
    private partial void LogCompletionFailed(Exception e, string transactionalId);

    [LoggerMessage(EventName = "TransactionStateWriteFailed", Level = LogLevel.Error, Message = "Transactional id {TransactionalId}: append to __transaction_state failed: {Problem}")]
    private partial void LogWriteFailed(Exception? e, string transactionalId, string problem);
}
