using System.Collections.Immutable;
using System.Globalization;
using Levee.Broker.Groups;
using Levee.Broker.Partitions;
using Levee.Protocol;
using Levee.Protocol.Records;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Transactions;

public sealed partial class TransactionCoordinator
{
    /// <summary>
    /// FindCoordinator for a transactional id: the broker leading its __transaction_state partition (the same hash
    /// as groups), with its endpoint on <paramref name="listener"/>; COORDINATOR_NOT_AVAILABLE while it has none.
    /// </summary>
    public (ErrorCode Error, string? Message, int NodeId, string Host, int Port) FindCoordinator(string transactionalId, string listener)
    {
        ArgumentNullException.ThrowIfNull(transactionalId);
        var image = _replicas.Image;
        if (!image.TopicsByName.TryGetValue(StateTopic, out var topic) || topic.Partitions.Count == 0)
        {
            return (ErrorCode.CoordinatorNotAvailable, $"{StateTopic} does not exist yet.", -1, "", -1);
        }

        var partition = GroupCoordinator.PartitionFor(transactionalId, topic.Partitions.Count);
        if (!topic.Partitions.TryGetValue(partition, out var state) || state.Leader < 0)
        {
            return (ErrorCode.CoordinatorNotAvailable, $"{StateTopic}-{partition} has no leader.", -1, "", -1);
        }

        if (!image.Brokers.TryGetValue(state.Leader, out var broker) || broker.EndPoint(listener) is not { } endpoint)
        {
            return (ErrorCode.CoordinatorNotAvailable, $"The leader of {StateTopic}-{partition}, broker {state.Leader}, has no endpoint on listener {listener}.", -1, "", -1);
        }

        return (ErrorCode.None, null, state.Leader, endpoint.Host, endpoint.Port);
    }

    /// <summary>
    /// Creates __transaction_state on first use, as Kafka does: compacted, <c>transaction.state.log.num.partitions</c>
    /// partitions, replication factor min(<c>transaction.state.log.replication.factor</c>, brokers available),
    /// <c>min.insync.replicas</c> min(<c>transaction.state.log.min.isr</c>, that factor). False when it cannot be had.
    /// </summary>
    public async ValueTask<bool> TryEnsureStateTopicAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _statePartitions) > 0)
        {
            return true;
        }

        await _topicLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_statePartitions > 0)
            {
                return true;
            }

            if (!_replicas.Topics.TryGet(StateTopic, out var topic))
            {
                var available = _replicas.Image.Brokers.Values.Count(b => !b.Fenced && !b.InControlledShutdown);
                var replicationFactor = (short)Math.Clamp(available, 1, _options.TransactionStateLogReplicationFactor);
                var configs = ImmutableDictionary<string, string?>.Empty
                    .Add("cleanup.policy", "compact")
                    .Add("segment.bytes", _options.TransactionStateLogSegmentBytes.ToString(CultureInfo.InvariantCulture))
                    .Add("min.insync.replicas", Math.Min(_options.TransactionStateLogMinIsr, (int)replicationFactor).ToString(CultureInfo.InvariantCulture))
                    .Add("unclean.leader.election.enable", "false");
                var (result, _) = await _replicas.CreateTopicAsync(StateTopic, _options.TransactionStateLogPartitions, replicationFactor, null, configs, validateOnly: false, cancellationToken).ConfigureAwait(false);
                if (result.Error is ErrorCode.None or ErrorCode.TopicAlreadyExists)
                {
                    await WaitForStatePartitionsAsync(cancellationToken).ConfigureAwait(false);
                }

                if (!_replicas.Topics.TryGet(StateTopic, out topic))
                {
                    LogStateTopicFailed(result.Error, result.Message);
                    return false;
                }
            }

            Volatile.Write(ref _statePartitions, topic.PartitionCount);
            return true;
        }
        finally
        {
            _topicLock.Release();
        }
    }

    /// <summary>
    /// Whether this broker coordinates <paramref name="transactionalId"/> now: NOT_COORDINATOR when it does not lead
    /// the id's partition, COORDINATOR_LOAD_IN_PROGRESS while loading it.
    /// </summary>
    private ErrorCode Owner(string transactionalId, out TransactionOwnedPartition? owner)
    {
        owner = null;
        if (!_replicas.Topics.TryGet(StateTopic, out var topic))
        {
            return ErrorCode.NotCoordinator;
        }

        var partition = GroupCoordinator.PartitionFor(transactionalId, topic.PartitionCount);
        lock (_ownershipLock)
        {
            if (!_owned.TryGetValue(partition, out owner))
            {
                // Led here already but not yet taken over: loading (retried in place), as for groups.
                return _replicas.TryGetPartition(StateTopic, partition, out var led) && led.IsLeader
                    ? ErrorCode.CoordinatorLoadInProgress
                    : ErrorCode.NotCoordinator;
            }
        }

        return owner.IsLoaded ? ErrorCode.None : ErrorCode.CoordinatorLoadInProgress;
    }

    /// <summary>After creating the topic: waits (bounded) until every partition has a leader and those led here are loaded.</summary>
    private async Task WaitForStatePartitionsAsync(CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + TimeSpan.FromSeconds(5);
        while (_time.GetUtcNow() < deadline)
        {
            if (_replicas.Image.TopicsByName.TryGetValue(StateTopic, out var topic) && topic.Partitions.Values.All(p => p.Leader >= 0))
            {
                lock (_ownershipLock)
                {
                    if (topic.Partitions.Values.Where(p => p.Leader == _replicas.LocalBrokerId).All(p => _owned.TryGetValue(p.PartitionId, out var o) && o.IsLoaded))
                    {
                        return;
                    }
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private void OnPartitionsChanged(object? sender, EventArgs e)
    {
        try
        {
            SyncOwnership();
        }
#pragma warning disable CA1031 // Raised on the metadata applier: a failure here must not stop the broker following the image.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogOwnershipFailed(ex);
        }
    }

    /// <summary>Loads the __transaction_state partitions this broker now leads (a new leader epoch is a new leadership) and unloads those lost.</summary>
    private void SyncOwnership()
    {
        var toLoad = new List<TransactionOwnedPartition>();
        lock (_ownershipLock)
        {
            var led = new Dictionary<int, int>();
            if (!_stopping.IsCancellationRequested)
            {
                foreach (var partition in _replicas.Partitions)
                {
                    if (partition.Id.Topic == StateTopic && partition.IsLeader)
                    {
                        led[partition.Id.Partition] = partition.LeaderEpoch;
                    }
                }
            }

            foreach (var (index, owned) in _owned.ToList())
            {
                if (!led.TryGetValue(index, out var epoch) || epoch != owned.LeaderEpoch)
                {
                    _owned.Remove(index);
                    owned.MarkUnloaded();
                    LogUnloaded(index, owned.LeaderEpoch, owned.Entries.Count);
                }
            }

            foreach (var (index, epoch) in led)
            {
                if (!_owned.ContainsKey(index))
                {
                    var owned = new TransactionOwnedPartition(index, epoch);
                    _owned[index] = owned;
                    toLoad.Add(owned);
                }
            }
        }

        foreach (var owned in toLoad)
        {
            _ = Task.Run(() => Load(owned), CancellationToken.None);
        }
    }

    /// <summary>
    /// Reads a partition this broker now leads to its end (the last record of each id wins; a tombstone removes it)
    /// and resumes the transactions found preparing: their markers are sent again.
    /// </summary>
    private void Load(TransactionOwnedPartition owned)
    {
        try
        {
            if (!_replicas.TryGetPartition(StateTopic, owned.Partition, out var partition))
            {
                return;
            }

            var log = partition.Log;
            var end = log.LogEndOffset;
            var states = new Dictionary<string, TransactionSnapshot?>(StringComparer.Ordinal);
            LogReplay.ForEachBatch(log, end, batch =>
            {
                if (new RecordBatchHeader(batch).IsControl)
                {
                    return;
                }

                using var records = new RecordReader(batch);
                while (records.TryReadNext(out var record))
                {
                    if (!record.KeyIsNull)
                    {
                        states[TransactionRecords.ReadKey(record.Key.ToArray())] = record.ValueIsNull ? null : TransactionRecords.ReadValue(record.Value.ToArray());
                    }
                }
            });

            var resume = new List<(TransactionEntry, TransactionSnapshot)>();
            foreach (var (id, state) in states)
            {
                if (state is null || state.State == TransactionState.Dead)
                {
                    continue;
                }

                var entry = new TransactionEntry(id, owned, state);
                if (state.State is TransactionState.PrepareCommit or TransactionState.PrepareAbort)
                {
                    entry.Pending = true;
                    resume.Add((entry, state));
                }

                owned.Entries[id] = entry;
            }

            lock (_ownershipLock)
            {
                if (!_owned.TryGetValue(owned.Partition, out var current) || current != owned)
                {
                    return;
                }

                owned.MarkLoaded();
            }

            foreach (var (entry, state) in resume)
            {
                StartCompletion(entry, state);
            }

            LogLoaded(owned.Partition, owned.LeaderEpoch, owned.Entries.Count, resume.Count, end);
        }
#pragma warning disable CA1031 // A partition that cannot be loaded stays "loading" (retriable for clients) and is logged.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogLoadFailed(e, owned.Partition);
        }
    }

    [LoggerMessage(EventName = "TransactionStateTopicFailed", Level = LogLevel.Warning, Message = "Creating __transaction_state failed: {Error} {Message}")]
    private partial void LogStateTopicFailed(ErrorCode error, string? message);

    [LoggerMessage(EventName = "TransactionOwnershipFailed", Level = LogLevel.Error, Message = "Following __transaction_state leadership failed")]
    private partial void LogOwnershipFailed(Exception e);

    [LoggerMessage(EventName = "TransactionStateLoaded", Level = LogLevel.Information, Message = "Loaded __transaction_state-{Partition} (coordinator epoch {LeaderEpoch}): {Ids} transactional id(s), {Resumed} transaction(s) completing, up to offset {End}")]
    private partial void LogLoaded(int partition, int leaderEpoch, int ids, int resumed, long end);

    [LoggerMessage(EventName = "TransactionStateLoadFailed", Level = LogLevel.Error, Message = "Loading __transaction_state-{Partition} failed; its transactional ids answer COORDINATOR_LOAD_IN_PROGRESS")]
    private partial void LogLoadFailed(Exception e, int partition);

    [LoggerMessage(EventName = "TransactionStateUnloaded", Level = LogLevel.Information, Message = "Unloaded __transaction_state-{Partition} (coordinator epoch {LeaderEpoch}): leadership moved; {Ids} transactional id(s) now coordinated elsewhere")]
    private partial void LogUnloaded(int partition, int leaderEpoch, int ids);
}
