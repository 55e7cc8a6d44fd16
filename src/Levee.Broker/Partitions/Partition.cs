using System.Collections.Immutable;
using Levee.Cluster.Metadata;
using Levee.Storage;
using Levee.Storage.ProducerState;

namespace Levee.Broker.Partitions;

/// <summary>
/// One partition replica on this broker, leader or follower as the metadata image says, with
/// Kafka's ISR rules. As leader it appends produced batches, tracks each follower's log end from
/// its fetches, and moves the high watermark to the smallest log end in the ISR; acks=all
/// producers and consumers wait on that. As follower it appends what it fetched from the leader
/// and keeps the leader's high watermark. A single broker is the same code with an ISR of one,
/// where the high watermark follows every append at once.
/// </summary>
public sealed class Partition
{
    private readonly Lock _lock = new();
    private readonly int _localBrokerId;
    private readonly TimeProvider _time;
    private readonly Dictionary<int, FollowerState> _followers = [];
    private PartitionImage _state;
    private TaskCompletionSource _appended = NewSignal();
    private TaskCompletionSource _highWatermarkMoved = NewSignal();
    private long _bytesIn;
    private long _bytesOut;

    /// <summary>Wraps an open log with the partition's state from the metadata image.</summary>
    public Partition(TopicPartition id, PartitionImage state, PartitionLog log, int localBrokerId, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(state);
        Id = id;
        Log = log;
        _localBrokerId = localBrokerId;
        _time = time;
        _state = state;
        ApplyState(state);
    }

    /// <summary>The topic and partition index.</summary>
    public TopicPartition Id { get; }

    /// <summary>The topic's id.</summary>
    public Guid TopicId => Volatile.Read(ref _state).TopicId;

    /// <summary>The partition's log.</summary>
    public PartitionLog Log { get; }

    /// <summary>The topic's produce settings, as last applied from the metadata image.</summary>
    public ProducePolicy Policy { get; set; } = new(1_048_588, false, long.MaxValue, long.MaxValue, 1);

    /// <summary>The partition's replicas, ISR, leader and epochs as last applied from the metadata image.</summary>
    public PartitionImage State => Volatile.Read(ref _state);

    /// <summary>The current leader's broker id, or -1.</summary>
    public int LeaderId => State.Leader;

    /// <summary>True when this broker leads the partition.</summary>
    public bool IsLeader => State.Leader == _localBrokerId;

    /// <summary>The leader epoch stamped into appended batches.</summary>
    public int LeaderEpoch => State.LeaderEpoch;

    /// <summary>Offsets below this are readable by consumers.</summary>
    public long HighWatermark => Log.HighWatermark;

    /// <summary>Completes at the next append: what a delayed fetch waits on.</summary>
    public Task NextAppend => Volatile.Read(ref _appended).Task;

    /// <summary>
    /// Completes when the high watermark next moves, and with it the last stable offset: what a delayed consumer fetch
    /// waits on too, since what it may read grows with them, not with the log end.
    /// </summary>
    public Task HighWatermarkMoved => Volatile.Read(ref _highWatermarkMoved).Task;

    /// <summary>Applies a new state from the metadata image (leadership, epochs, ISR).</summary>
    public void ApplyState(PartitionImage state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_lock)
        {
            var previous = _state;
            var becameLeader = state.Leader == _localBrokerId && (!ReferenceEquals(previous, state) && (previous.Leader != _localBrokerId || previous.LeaderEpoch != state.LeaderEpoch) || _followers.Count == 0);
            Volatile.Write(ref _state, state);
            if (becameLeader)
            {
                // A new leader knows nothing of its followers yet; the ISR members get a full lag
                // window to fetch before they could be dropped (Kafka resets the caught-up time too).
                _followers.Clear();
                Log.BeginLeaderEpoch(state.LeaderEpoch);
                var now = NowMs;
                foreach (var replica in state.Replicas.Where(r => r != _localBrokerId))
                {
                    _followers[replica] = new FollowerState { LogEndOffset = -1, LastCaughtUpMs = now, LastFetchMs = now, LeaderEndAtLastFetch = -1 };
                }
            }

            else if (state.Leader == _localBrokerId && !previous.Replicas.SequenceEqual(state.Replicas))
            {
                // The replicas changed under the same leader (self-healing, a reassignment): a new replica is
                // followed from its first fetch, so it can catch up and join the ISR; a removed one is forgotten.
                var now = NowMs;
                foreach (var replica in state.Replicas.Where(r => r != _localBrokerId && !_followers.ContainsKey(r)))
                {
                    _followers[replica] = new FollowerState { LogEndOffset = -1, LastCaughtUpMs = now, LastFetchMs = now, LeaderEndAtLastFetch = -1 };
                }

                foreach (var gone in _followers.Keys.Where(r => !state.Replicas.Contains(r)).ToList())
                {
                    _followers.Remove(gone);
                }
            }

            if (state.Leader == _localBrokerId)
            {
                MaybeAdvanceHighWatermark();
            }

            if (previous.Leader == _localBrokerId && (state.Leader != _localBrokerId || state.LeaderEpoch != previous.LeaderEpoch))
            {
                // Leadership moved (controlled shutdown, fencing, preferred election): acks=all waiters must
                // answer NOT_LEADER_OR_FOLLOWER now, not at their request timeout. An idempotent client keeps
                // its in-flight requests to this broker and cannot move to the new leader until they end.
                Interlocked.Exchange(ref _highWatermarkMoved, NewSignal()).TrySetResult();
            }
        }
    }

    /// <summary>Bytes appended here as leader since this replica was opened (<c>/metrics</c>: bytes in per topic).</summary>
    public long BytesIn => Interlocked.Read(ref _bytesIn);

    /// <summary>Record bytes sent from here to consumers since this replica was opened (<c>/metrics</c>: bytes out per topic).</summary>
    public long BytesOut => Interlocked.Read(ref _bytesOut);

    /// <summary>Counts <paramref name="bytes"/> of records sent to a consumer (not to a follower).</summary>
    public void NoteBytesOut(long bytes) => Interlocked.Add(ref _bytesOut, bytes);

    /// <summary>
    /// Appends validated batches as leader and advances the high watermark as the ISR allows. A coordinator's
    /// transactional batches (base sequence -1) are appended with <paramref name="origin"/>
    /// <see cref="AppendOrigin.Coordinator"/>.
    /// </summary>
    /// <exception cref="ProducerStateException">A producer's batch is refused.</exception>
    public LogAppendInfo Append(Span<byte> batches, bool useLogAppendTime, AppendOrigin origin = AppendOrigin.Client)
    {
        LogAppendInfo info;
        lock (_lock)
        {
            info = Log.AppendAsLeader(batches, LeaderEpoch, origin, useLogAppendTime);
            MaybeAdvanceHighWatermark();
        }

        Interlocked.Add(ref _bytesIn, batches.Length);

        Interlocked.Exchange(ref _appended, NewSignal()).TrySetResult();
        return info;
    }

    /// <summary>
    /// Writes a transaction marker as leader (WriteTxnMarkers; see <see cref="PartitionLog.AppendMarkerAsLeader"/>) and
    /// advances the high watermark as the ISR allows.
    /// </summary>
    /// <exception cref="ProducerStateException">INVALID_PRODUCER_EPOCH or TRANSACTION_COORDINATOR_FENCED.</exception>
    public LogAppendInfo AppendMarker(long producerId, short producerEpoch, bool commit, int coordinatorEpoch)
    {
        LogAppendInfo info;
        lock (_lock)
        {
            info = Log.AppendMarkerAsLeader(producerId, producerEpoch, commit, coordinatorEpoch, LeaderEpoch);
            MaybeAdvanceHighWatermark();
        }

        Interlocked.Exchange(ref _appended, NewSignal()).TrySetResult();
        return info;
    }

    /// <summary>
    /// A follower fetched from <paramref name="fetchOffset"/>: that is its log end. It is caught up
    /// if it asked for everything the leader had, or for everything the leader had at its previous
    /// fetch (Kafka's rule, so a follower that keeps up with a busy leader is never "behind").
    /// </summary>
    public void RecordFollowerFetch(int replicaId, long fetchOffset)
    {
        lock (_lock)
        {
            if (!_followers.TryGetValue(replicaId, out var follower))
            {
                return;
            }

            var now = NowMs;
            var leaderEnd = Log.LogEndOffset;
            if (fetchOffset >= leaderEnd)
            {
                follower.LastCaughtUpMs = now;
            }
            else if (follower.LeaderEndAtLastFetch >= 0 && fetchOffset >= follower.LeaderEndAtLastFetch)
            {
                follower.LastCaughtUpMs = Math.Max(follower.LastCaughtUpMs, follower.LastFetchMs);
            }

            follower.LogEndOffset = fetchOffset;
            follower.LeaderEndAtLastFetch = leaderEnd;
            follower.LastFetchMs = now;
            MaybeAdvanceHighWatermark();
        }
    }

    /// <summary>
    /// The ISR this leader should ask the controller for: members silent or behind for longer than
    /// <paramref name="lagMaxMs"/> leave; followers that reached the high watermark join. Null when
    /// no change is due.
    /// </summary>
    public ImmutableArray<int>? ProposedIsr(long lagMaxMs)
    {
        lock (_lock)
        {
            var state = _state;
            if (state.Leader != _localBrokerId)
            {
                return null;
            }

            var now = NowMs;
            var isr = state.Isr.Where(r => r == _localBrokerId || !_followers.TryGetValue(r, out var f) || now - f.LastCaughtUpMs <= lagMaxMs).ToList();
            foreach (var (replica, follower) in _followers)
            {
                if (!isr.Contains(replica) && follower.LogEndOffset >= Log.HighWatermark && follower.LogEndOffset >= 0 && now - follower.LastCaughtUpMs <= lagMaxMs)
                {
                    isr.Add(replica);
                }
            }

            return isr.Count == state.Isr.Length && isr.All(state.Isr.Contains) ? null : [.. isr.Order()];
        }
    }

    /// <summary>
    /// Leader: how many records each follower lacks, its last fetch offset against this log's end (the whole log for
    /// one that has not fetched since this broker became leader). Empty when this broker does not lead.
    /// </summary>
    public IReadOnlyList<(int Replica, long Records)> FollowerLag()
    {
        lock (_lock)
        {
            if (_state.Leader != _localBrokerId)
            {
                return [];
            }

            var end = Log.LogEndOffset;
            var start = Log.LogStartOffset;
            return [.. _followers.Select(f => (f.Key, Math.Max(0, end - Math.Max(f.Value.LogEndOffset, start))))];
        }
    }

    /// <summary>Waits until the high watermark reaches <paramref name="offset"/> (acks=all).</summary>
    public async Task WaitForHighWatermarkAsync(long offset, CancellationToken cancellationToken)
    {
        var epoch = LeaderEpoch;
        while (true)
        {
            var signal = Volatile.Read(ref _highWatermarkMoved);
            if (Log.HighWatermark >= offset)
            {
                return;
            }

            if (!IsLeader || LeaderEpoch != epoch)
            {
                throw new InvalidOperationException("Leadership moved while waiting for the ISR.");
            }

            await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Follower: appends batches fetched from the leader, keeping their offsets, and takes the leader's high watermark.</summary>
    public void AppendAsFollower(ReadOnlySpan<byte> batches, long leaderHighWatermark)
    {
        lock (_lock)
        {
            if (!batches.IsEmpty)
            {
                Log.AppendAsFollower(batches);
            }

            SetHighWatermark(Math.Min(leaderHighWatermark, Log.LogEndOffset));
        }

        if (!batches.IsEmpty)
        {
            Interlocked.Exchange(ref _appended, NewSignal()).TrySetResult();
        }
    }

    /// <summary>Follower: removes a divergent tail (KIP-101/KIP-320) before fetching again.</summary>
    public void TruncateTo(long offset)
    {
        lock (_lock)
        {
            // Also at or past the log end: an epoch begun there as leader and never written to goes.
            Log.TruncateTo(offset);

            if (Log.HighWatermark > Log.LogEndOffset)
            {
                Log.HighWatermark = Log.LogEndOffset;
            }
        }
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // Under _lock. The high watermark is the smallest log end over the ISR, and never goes back.
    private void MaybeAdvanceHighWatermark()
    {
        var state = _state;
        var candidate = Log.LogEndOffset;
        foreach (var replica in state.Isr)
        {
            if (replica == _localBrokerId)
            {
                continue;
            }

            candidate = Math.Min(candidate, _followers.TryGetValue(replica, out var f) ? f.LogEndOffset : -1);
        }

        if (candidate > Log.HighWatermark)
        {
            SetHighWatermark(candidate);
        }
    }

    private void SetHighWatermark(long value)
    {
        if (value == Log.HighWatermark)
        {
            return;
        }

        Log.HighWatermark = value;
        Interlocked.Exchange(ref _highWatermarkMoved, NewSignal()).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class FollowerState
    {
        public long LogEndOffset { get; set; }

        public long LastCaughtUpMs { get; set; }

        public long LastFetchMs { get; set; }

        public long LeaderEndAtLastFetch { get; set; }
    }
}
