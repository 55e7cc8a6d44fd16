using System.Net;
using DotNext.Net.Cluster;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.Membership;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Levee.Cluster.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Levee.Cluster.Quorum;

/// <summary>
/// One node of the metadata quorum: the replicated metadata log, kept by Raft
/// (DotNext.Net.Cluster) among a static list of voters, and the <see cref="MetadataImage"/> built
/// by applying it. A single voter is the single-node default and runs exactly this code.
/// </summary>
/// <remarks>
/// Writes go through <see cref="AppendAsync"/> on the leader (the controller's node) and return
/// once committed by a majority and applied locally. Every node applies committed entries in
/// order and swaps <see cref="Current"/> atomically; reads never block and keep working when the
/// quorum has lost its majority.
/// </remarks>
public sealed partial class MetadataQuorum : IAsyncDisposable
{
    private readonly MetadataQuorumOptions _options;
    private readonly QuorumVoter _local;
    private readonly Dictionary<EndPoint, int> _voterIds;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _appendLock = new(1, 1);
    private MetadataImage _current = MetadataImage.Empty;
    private MetadataImage _followed = MetadataImage.Empty;
    private TaskCompletionSource _imageChanged = NewSignal();
    private TaskCompletionSource _leaderChanged = NewSignal();
    private MetadataStateMachine? _stateMachine;
    private WriteAheadLog? _log;
    private RaftCluster? _cluster;
    private RaftLoggerFactory? _raftLoggerFactory;
    private int _state; // 0 new, 1 started, 2 stopped

    /// <summary>Creates a quorum node; nothing starts until <see cref="StartAsync"/>.</summary>
    /// <exception cref="ArgumentException">The node is not a voter, or a timeout is not positive.</exception>
    public MetadataQuorum(MetadataQuorumOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.ElectionTimeoutLower, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ElectionTimeoutUpper, options.ElectionTimeoutLower, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.AppendTimeout, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.StopTimeout, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SnapshotIntervalEntries, 2, nameof(options));
        _options = options;
        _local = options.LocalVoter;
        _voterIds = options.Voters.ToDictionary(v => (EndPoint)v.EndPoint, v => v.Id);
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<MetadataQuorum>();
        LogDirectory = Path.Combine(options.DataDirectory, MetadataQuorumOptions.LogDirectoryName);
    }

    /// <summary>This node's id.</summary>
    public int NodeId => _local.Id;

    /// <summary>The voters, this node included.</summary>
    public IReadOnlyList<QuorumVoter> Voters => _options.Voters;

    /// <summary><c>&lt;data&gt;/__cluster_metadata-0</c>: the WAL in <c>wal/</c>, image snapshots in <c>snapshots/</c>.</summary>
    public string LogDirectory { get; }

    /// <summary>The latest applied image. Never blocks; swapped atomically after each committed entry.</summary>
    public MetadataImage Current => Volatile.Read(ref _current);

    /// <summary>Whether this node is the quorum leader now (and so may append).</summary>
    public bool IsLeader => _cluster is { } cluster && !cluster.LeadershipToken.IsCancellationRequested;

    /// <summary>
    /// The id of the leader this node knows of, or null during an election or without a majority. It names
    /// this node only while <see cref="IsLeader"/>: never "this node" while this node cannot append.
    /// </summary>
    /// <remarks>
    /// DotNext's <c>Leader</c> names the local member in two windows where its leadership token is
    /// cancelled: a new leader before the no-op entry of its term commits (the write barrier), and a leader
    /// that stepped down because it lost its majority, until its follower election timer fires (about
    /// an election timeout). A broker that took "the leader is me" from there while it is not the active
    /// controller forwarded controller requests to its own listener, which forwarded them again through
    /// the same one-at-a-time connection: a deadlock. Another node named as leader is reported as is.
    /// </remarks>
    public int? LeaderId =>
        _cluster?.Leader is { } leader && _voterIds.TryGetValue(leader.EndPoint, out var id) && (id != NodeId || IsLeader) ? id : null;

    /// <summary>The Raft term this node knows of (Kafka's leader epoch of the metadata partition); 0 before it starts.</summary>
    public long Term => _cluster?.Term ?? 0;

    /// <summary>The index of the last committed entry of this node's log (the metadata partition's high watermark).</summary>
    public long CommittedIndex => _log?.LastCommittedEntryIndex ?? 0;

    /// <summary>The index of the last entry of this node's log, committed or not (its log end).</summary>
    public long LastIndex => _log?.LastEntryIndex ?? 0;

    /// <summary>
    /// Raised after each applied entry with the new image, on DotNext's applier thread: handlers
    /// must be quick and must not block; an exception from a handler is logged and ignored.
    /// </summary>
    public event EventHandler<MetadataImageChangedEventArgs>? ImageChanged;

    /// <summary>Raised when this node learns of a new leader, or loses it (<see cref="LeaderId"/> null).</summary>
    public event EventHandler<QuorumLeaderChangedEventArgs>? LeaderChanged;

    /// <summary>
    /// Recovers the image (latest snapshot, then the committed log after it), then joins the
    /// quorum: binds the Raft listener on this voter's address and starts following.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The metadata quorum was already started.");
        }

        Directory.CreateDirectory(LogDirectory);
        _stateMachine = new MetadataStateMachine(
            new DirectoryInfo(Path.Combine(LogDirectory, "snapshots")),
            _options.SnapshotIntervalEntries,
            Publish,
            _loggerFactory.CreateLogger<MetadataStateMachine>());

        // DotNext reads the restored snapshot's index in the WAL constructor, so restore first.
        await _stateMachine.RestoreAsync(cancellationToken).ConfigureAwait(false);
        _log = new WriteAheadLog(
            new WriteAheadLog.Options
            {
                Location = Path.Combine(LogDirectory, "wal"),
                HashAlgorithm = WriteAheadLog.IntegrityHashAlgorithm.Crc32,
            },
            _stateMachine);

        var lower = (int)_options.ElectionTimeoutLower.TotalMilliseconds;
        var configuration = new RaftCluster.TcpConfiguration(_local.EndPoint)
        {
            LowerElectionTimeout = lower,
            UpperElectionTimeout = (int)_options.ElectionTimeoutUpper.TotalMilliseconds,
            RequestTimeout = _options.RequestTimeout ?? _options.ElectionTimeoutLower,
            ColdStart = false,
            SslOptions = _options.Tls,
            ConfigurationStorage = null, // in-memory, filled below with the static voter list
            LoggerFactory = _raftLoggerFactory = new RaftLoggerFactory(_loggerFactory, () => Volatile.Read(ref _state) == 2, TimeProvider.System),
        };
        if (configuration.ConfigurationStorage is not InMemoryClusterConfigurationStorage<EndPoint> storage)
        {
            throw new InvalidOperationException("DotNext did not create its in-memory cluster configuration storage.");
        }

        var builder = storage.CreateInitialConfigurationBuilder();
        foreach (var voter in _options.Voters)
        {
            builder.Add(voter.EndPoint);
        }

        builder.Build();
        _cluster = new RaftCluster(configuration) { AuditTrail = _log };
        _cluster.LeaderChanged += OnLeaderChanged;
        await _cluster.StartAsync(cancellationToken).ConfigureAwait(false);
        LogStarted(NodeId, _local.EndPoint.ToString(), _options.Voters.Count, Current.Offset);
    }

    /// <summary>Leaves the quorum and closes the log. The image stays readable.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }

        if (_cluster is { } cluster)
        {
            cluster.LeaderChanged -= OnLeaderChanged;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(_options.StopTimeout);
            await HandOverCommitIndexAsync(cluster, deadline.Token).ConfigureAwait(false);
            try
            {
                // DotNext's token bounds only the wait for its transition lock; leaving the current state then waits
                // for in-flight Raft requests. The deadline bounds the whole stop, so a node that cannot leave the
                // quorum cleanly (the last voter of a quorum without a majority, a peer that never answers) still
                // closes its log and lets the broker exit.
                await cluster.StopAsync(deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                LogStopTimedOut(NodeId, (long)_options.StopTimeout.TotalMilliseconds);
            }

            cluster.Dispose();
        }

        _raftLoggerFactory?.Dispose();

        if (_log is { } log)
        {
            await log.DisposeAsync().ConfigureAwait(false);
        }

        if (_stateMachine is { } stateMachine)
        {
            await stateMachine.DisposeAsync().ConfigureAwait(false);
        }

        _leaderChanged.TrySetResult();
    }

    /// <summary>
    /// Followers learn that an entry is committed only from the leader's next append or heartbeat, which came up
    /// to a heartbeat interval later (130-165 ms measured): a client that created a topic through one broker and
    /// asked another for it at once was told the topic did not exist. One more round of appends right after each
    /// commit carries the commit index to every voter. Nobody waits for it: with a voter down, a round lasts until
    /// that voter's request times out, and appends must not (failover is when they are most needed). Best effort:
    /// a failed round leaves it to the next heartbeat.
    /// </summary>
    private async Task PushCommitIndexAsync(RaftCluster cluster)
    {
        if (_options.Voters.Count == 1)
        {
            return;
        }

        using var bound = new CancellationTokenSource(2 * (_options.RequestTimeout ?? _options.ElectionTimeoutLower));
        try
        {
            await cluster.ForceReplicationAsync(bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogCommitPushFailed(NodeId, e.Message);
        }
    }

    /// <summary>
    /// A leader that leaves first sends its followers one more round of appends, carrying its commit index.
    /// Followers learn that an entry is committed only from the leader's next append or heartbeat; a leader
    /// that stops right after a commit (the broker's own controlled shutdown is its last decision) would leave
    /// the others with the entry in their logs but not applied. With the majority gone as well, a voter left
    /// alone would keep that stale image for as long as the quorum stays down: an ISR still naming the broker
    /// that left, so acks=all there would wait for it. Best effort, bounded by two Raft request timeouts.
    /// </summary>
    private async Task HandOverCommitIndexAsync(RaftCluster cluster, CancellationToken cancellationToken)
    {
        if (_options.Voters.Count == 1 || !IsLeader)
        {
            return;
        }

        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(2 * (_options.RequestTimeout ?? _options.ElectionTimeoutLower));
        try
        {
            await cluster.ForceReplicationAsync(bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not the leader any more, no majority, or out of time: the followers learn what they can elsewhere.
            LogHandOverFailed(NodeId, e.Message);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _appendLock.Dispose();
    }

    /// <summary>
    /// Waits until the image has applied the log up to <paramref name="offset"/> and every
    /// <see cref="ImageChanged"/> handler has followed it, and returns it.
    /// </summary>
    public async Task<MetadataImage> WaitForOffsetAsync(long offset, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var signal = Volatile.Read(ref _imageChanged);
            var image = Volatile.Read(ref _followed);
            if (image.Offset >= offset)
            {
                return image;
            }

            await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Appends a batch of records to the metadata log as one entry, and returns the metadata
    /// offset at which it is applied once a majority of voters has committed it; the batch is
    /// then visible in <see cref="Current"/> on this node (other nodes:
    /// <see cref="WaitForOffsetAsync"/>). The batch applies atomically or not at all.
    /// </summary>
    /// <exception cref="NotControllerException">Another node leads; it is named.</exception>
    /// <exception cref="QuorumUnavailableException">
    /// No leader, or no commit, within <see cref="MetadataQuorumOptions.AppendTimeout"/>: the quorum has no majority.
    /// </exception>
    /// <exception cref="InvalidMetadataRecordException">The batch does not apply to the current image.</exception>
    public async ValueTask<long> AppendAsync(IReadOnlyList<MetadataRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentOutOfRangeException.ThrowIfZero(records.Count, nameof(records));
        var cluster = _cluster ?? throw new InvalidOperationException("The metadata quorum is not started.");
        var payload = MetadataRecordCodec.EncodeBatch(records);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.AppendTimeout);
        try
        {
            while (true)
            {
                var leaderSignal = Volatile.Read(ref _leaderChanged);
                ObjectDisposedException.ThrowIf(Volatile.Read(ref _state) != 1, this);

                if (!IsLeader)
                {
                    if (LeaderId is { } leader && leader != NodeId)
                    {
                        throw new NotControllerException(NodeId, leader);
                    }

                    // An election is under way (or there is no majority): wait for one to finish.
                    await leaderSignal.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
                    continue;
                }

                long committed;
                await _appendLock.WaitAsync(timeout.Token).ConfigureAwait(false);
                try
                {
                    // Appends are serialised on the leader, and each returns only once applied, so
                    // Current holds every earlier batch: checking against it keeps invalid records out
                    // of the log. A leader new in its term may still be applying older entries: wait
                    // for its commit index first.
                    await cluster.ApplyReadBarrierAsync(timeout.Token).ConfigureAwait(false);
                    _ = Current.Apply(records);
                    EnsureRoom();

                    var ticket = new AppendTicket();
                    await cluster.ReplicateAsync(payload, ticket, timeout.Token).ConfigureAwait(false);
                    if (ticket.Rejected is { } rejected)
                    {
                        throw new InvalidMetadataRecordException(
                            $"The metadata batch at offset {ticket.Index} was committed but did not apply: {rejected.Message}", rejected);
                    }

                    committed = ticket.Index;
                }
                catch (NotLeaderException)
                {
                    // Leadership moved while appending: the entry may or may not commit under the new
                    // leader, as with any Raft client. Go round: the caller hears who leads now.
                    continue;
                }
                catch (QuorumUnreachableException e)
                {
                    throw Unavailable(e);
                }
                finally
                {
                    _appendLock.Release();
                }

                _ = PushCommitIndexAsync(cluster);
                return committed;
            }
        }
        catch (OperationCanceledException e) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable(e);
        }
    }

    /// <summary>
    /// On the leader: waits until every entry committed so far is applied to <see cref="Current"/>, so a
    /// decision taken on it sees every earlier decision (DotNext reports an append once committed, and a
    /// new leader may still be applying its predecessor's entries).
    /// </summary>
    /// <exception cref="QuorumUnavailableException">Not applied within <see cref="MetadataQuorumOptions.AppendTimeout"/>.</exception>
    public async ValueTask CatchUpAsync(CancellationToken cancellationToken = default)
    {
        var cluster = _cluster ?? throw new InvalidOperationException("The metadata quorum is not started.");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.AppendTimeout);
        try
        {
            await cluster.ApplyReadBarrierAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable(e);
        }
        catch (QuorumUnreachableException e)
        {
            throw Unavailable(e);
        }
    }

    /// <summary>A full disk refuses the append here, answered as a quorum that cannot commit, instead of crashing the write.</summary>
    private void EnsureRoom()
    {
        try
        {
            _options.Space?.EnsureMetadataRoom();
        }
        catch (IOException e)
        {
            throw new QuorumUnavailableException($"The metadata log of node {NodeId} cannot be written: {e.Message}", e);
        }
    }

    private QuorumUnavailableException Unavailable(Exception cause)
    {
        var majority = (_options.Voters.Count / 2) + 1;
        var leader = LeaderId is { } id ? $"node {id}" : "none";
        return new QuorumUnavailableException(
            $"Metadata change refused: the metadata quorum did not commit within {_options.AppendTimeout.TotalMilliseconds:0} ms "
            + $"(voters {_options.Voters.Count}, majority {majority}, leader known to node {NodeId}: {leader}). "
            + "A majority of voters must be up and connected; committed metadata stays readable.",
            cause);
    }

    private void Publish(MetadataImage image)
    {
        var previous = Interlocked.Exchange(ref _current, image);
        if (ImageChanged is { } handler)
        {
            try
            {
                handler(this, new MetadataImageChangedEventArgs(previous, image));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogHandlerFailed(e);
            }
        }

        // Waiters wake once the handlers have followed the image too (a created topic's logs are open).
        Volatile.Write(ref _followed, image);
        Interlocked.Exchange(ref _imageChanged, NewSignal()).TrySetResult();
    }

    private void OnLeaderChanged(ICluster cluster, IClusterMember? leader)
    {
        Interlocked.Exchange(ref _leaderChanged, NewSignal()).TrySetResult();
        var leaderId = leader is not null && _voterIds.TryGetValue(leader.EndPoint, out var id) ? id : (int?)null;
        LogLeaderChanged(NodeId, leaderId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none");
        try
        {
            LeaderChanged?.Invoke(this, new QuorumLeaderChangedEventArgs(leaderId, leaderId == NodeId));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogHandlerFailed(e);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [LoggerMessage(EventName = "Started", Level = LogLevel.Information, Message = "Metadata quorum node {NodeId} listening on {EndPoint} with {Voters} voter(s), image at offset {Offset}")]
    private partial void LogStarted(int nodeId, string endPoint, int voters, long offset);

    [LoggerMessage(EventName = "LeaderChanged", Level = LogLevel.Information, Message = "Metadata quorum node {NodeId}: leader is {Leader}")]
    private partial void LogLeaderChanged(int nodeId, string leader);

    [LoggerMessage(EventName = "StopTimedOut", Level = LogLevel.Warning, Message = "Metadata quorum node {NodeId} did not leave the quorum within {TimeoutMs} ms; closing its log anyway")]
    private partial void LogStopTimedOut(int nodeId, long timeoutMs);

    [LoggerMessage(EventName = "HandOverFailed", Level = LogLevel.Debug, Message = "Metadata quorum node {NodeId}: last replication round before leaving failed: {Problem}")]
    private partial void LogHandOverFailed(int nodeId, string problem);

    [LoggerMessage(EventName = "CommitPushFailed", Level = LogLevel.Debug, Message = "Metadata quorum node {NodeId}: pushing the commit index to the followers failed ({Problem}); the next heartbeat carries it")]
    private partial void LogCommitPushFailed(int nodeId, string problem);

    [LoggerMessage(EventName = "HandlerFailed", Level = LogLevel.Warning, Message = "A metadata quorum event handler failed")]
    private partial void LogHandlerFailed(Exception exception);
}

/// <summary>The image before and after an applied entry.</summary>
/// <param name="Previous">The image before.</param>
/// <param name="Current">The image after.</param>
public sealed class MetadataImageChangedEventArgs(MetadataImage Previous, MetadataImage Current) : EventArgs
{
    /// <summary>The image before.</summary>
    public MetadataImage Previous { get; } = Previous;

    /// <summary>The image after.</summary>
    public MetadataImage Current { get; } = Current;
}

/// <summary>A change of quorum leader as seen by one node.</summary>
/// <param name="LeaderId">The new leader, or null when none is known.</param>
/// <param name="IsLocal">Whether this node became the leader.</param>
public sealed class QuorumLeaderChangedEventArgs(int? LeaderId, bool IsLocal) : EventArgs
{
    /// <summary>The new leader, or null when none is known.</summary>
    public int? LeaderId { get; } = LeaderId;

    /// <summary>Whether this node became the leader.</summary>
    public bool IsLocal { get; } = IsLocal;
}
