using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net.Sockets;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;
using Levee.Protocol;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Cluster;

/// <summary>What the controller told a heartbeating broker.</summary>
public readonly record struct HeartbeatResult(ErrorCode Error, bool IsFenced, bool ShouldShutDown, bool IsCaughtUp);

/// <summary>
/// The controller: active on the node that leads the metadata quorum, idle elsewhere. It admits
/// brokers (registration, heartbeats, fencing after broker.session.timeout.ms), elects partition
/// leaders from the ISR when brokers come and go, restores preferred leaders, and turns topic admin
/// requests into metadata records. Every decision is a pure function of the image
/// (<see cref="ControllerDecisions"/>, <see cref="PartitionLeadership"/>) committed through the quorum,
/// one at a time, so whichever node leads next continues from the same state.
/// </summary>
public sealed partial class ControllerService : IAsyncDisposable
{
    private int _disposeCount;
    private readonly MetadataQuorum _quorum;
    private readonly BrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentDictionary<int, long> _lastHeartbeatMs = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Random _random = new();
    private Task? _loop;
    private long _activeSinceMs = -1;
    private long _lastPreferredCheckMs;
    private long _lastHealingCheckMs;
    private string? _healingHeld;
    private readonly Dictionary<int, long> _fencedSinceMs = [];
    private AdminLimits? _limits;
    private bool _credentialBootstrapDone;

    /// <summary>Creates the controller of this node; <see cref="Start"/> runs its liveness loop.</summary>
    public ControllerService(MetadataQuorum quorum, BrokerOptions options, TimeProvider time, ILogger<ControllerService> logger)
    {
        _quorum = quorum;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>True while this node leads the quorum and so is the active controller.</summary>
    public bool IsActive => _quorum.IsLeader;

    /// <summary>The metadata image as applied on this node.</summary>
    public MetadataImage Image => _quorum.Current;

    /// <summary>The active controller's node id, if known.</summary>
    public int? ActiveControllerId => _quorum.LeaderId;

    /// <summary>Starts the loop that fences silent brokers and elects leaders.</summary>
    public void Start() => _loop = RunAsync(_stopping.Token);

    /// <summary>
    /// Decides against the current image and commits the records. Refused with NOT_CONTROLLER when
    /// this node does not lead the quorum, and with REQUEST_TIMED_OUT when the quorum cannot commit.
    /// </summary>
    public async Task<Decision> DecideAsync(Func<MetadataImage, Decision> decide, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(decide);
        if (!_quorum.IsLeader)
        {
            return Decision.Fail(ErrorCode.NotController, _quorum.LeaderId is { } leader
                ? $"This is not the active controller (node {leader.ToString(System.Globalization.CultureInfo.InvariantCulture)} is)."
                : "This is not the active controller, and the metadata quorum has no leader now (an election, or fewer than a majority of its voters reachable); retry.");
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                // Decide on an image holding every committed decision: two concurrent requests for the same
                // thing (two brokers auto-creating __consumer_offsets) then see each other, and the second is
                // answered from the first's result instead of a batch that no longer applies.
                await _quorum.CatchUpAsync(cancellationToken).ConfigureAwait(false);
                var decision = decide(_quorum.Current);
                if (decision.Error != ErrorCode.None || decision.Records.Count == 0)
                {
                    return decision;
                }

                try
                {
                    var offset = await _quorum.AppendAsync(decision.Records, cancellationToken).ConfigureAwait(false);

                    // Committed; answer once this node has applied it too, so the requester can use what it
                    // asked for here at once (a created topic's partitions are open).
                    await _quorum.WaitForOffsetAsync(offset, cancellationToken).ConfigureAwait(false);
                    return decision;
                }
                catch (InvalidMetadataRecordException ex) when (attempt == 1)
                {
                    // The image moved under the decision (a new leader still applying its predecessor's
                    // entries): decide once more on the current image.
                    LogRedeciding(ex.Message);
                }
            }
        }
        catch (NotControllerException ex)
        {
            return Decision.Fail(ErrorCode.NotController, ex.Message);
        }
        catch (QuorumUnavailableException ex)
        {
            return Decision.Fail(ErrorCode.RequestTimedOut, ex.Message);
        }
        catch (InvalidMetadataRecordException ex)
        {
            LogRejected(ex);
            return Decision.Fail(ErrorCode.UnknownServerError, ex.Message);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Admits a broker: a new registration starts fenced; the same process registering again keeps its epoch.</summary>
    public async Task<(ErrorCode Error, long Epoch)> RegisterBrokerAsync(int brokerId, Guid incarnationId, ImmutableArray<BrokerEndpoint> endpoints, string? rack, CancellationToken cancellationToken)
    {
        long epoch = -1;
        var decision = await DecideAsync(
            image =>
            {
                if (image.Brokers.TryGetValue(brokerId, out var existing) && existing.IncarnationId == incarnationId)
                {
                    epoch = existing.Epoch;
                    return Decision.Commit([]);
                }

                epoch = image.Offset + 1;
                var records = new List<MetadataRecord> { new RegisterBrokerRecord(brokerId, incarnationId, epoch, endpoints, rack) };

                // A restarted broker lost its place: take it out of ISRs and leadership until it catches up.
                if (existing is not null)
                {
                    records.AddRange(PartitionLeadership.RemoveBroker(image, brokerId));
                }

                return Decision.Commit(records);
            },
            cancellationToken).ConfigureAwait(false);
        if (decision.Error == ErrorCode.None)
        {
            _lastHeartbeatMs[brokerId] = NowMs;
            LogRegistered(brokerId, epoch);
        }

        return (decision.Error, epoch);
    }

    /// <summary>
    /// A broker's heartbeat: keeps it alive, unfences it once it has caught up with the metadata log,
    /// and runs its controlled shutdown (leadership moves away first) when it asks to stop.
    /// </summary>
    public async Task<HeartbeatResult> HeartbeatAsync(int brokerId, long epoch, long metadataOffset, bool wantFence, bool wantShutdown, CancellationToken cancellationToken)
    {
        if (!_quorum.IsLeader)
        {
            return new HeartbeatResult(ErrorCode.NotController, true, false, false);
        }

        var image = _quorum.Current;
        if (!image.Brokers.TryGetValue(brokerId, out var broker))
        {
            return new HeartbeatResult(ErrorCode.BrokerIdNotRegistered, true, false, false);
        }

        if (broker.Epoch != epoch)
        {
            return new HeartbeatResult(ErrorCode.StaleBrokerEpoch, true, false, false);
        }

        _lastHeartbeatMs[brokerId] = NowMs;
        var caughtUp = metadataOffset >= broker.Epoch;
        if (wantShutdown)
        {
            var decision = await DecideAsync(
                current =>
                {
                    var records = new List<MetadataRecord>();
                    if (current.Brokers.TryGetValue(brokerId, out var b) && !b.InControlledShutdown)
                    {
                        records.Add(new BrokerRegistrationChangeRecord(brokerId, b.Epoch, InControlledShutdown: true));
                    }

                    var withShutdown = current.Apply(records);
                    records.AddRange(PartitionLeadership.RemoveBroker(withShutdown, brokerId));
                    return Decision.Commit(records);
                },
                cancellationToken).ConfigureAwait(false);
            var leadsNothing = !_quorum.Current.TopicsById.Values.SelectMany(t => t.Partitions.Values).Any(p => p.Leader == brokerId);
            return new HeartbeatResult(decision.Error, broker.Fenced, decision.Error == ErrorCode.None && leadsNothing, caughtUp);
        }

        if (broker.Fenced && !wantFence && caughtUp)
        {
            var decision = await DecideAsync(
                current =>
                {
                    if (!current.Brokers.TryGetValue(brokerId, out var b) || !b.Fenced || b.Epoch != epoch)
                    {
                        return Decision.Commit([]);
                    }

                    var records = new List<MetadataRecord> { new UnfenceBrokerRecord(brokerId, epoch) };
                    records.AddRange(PartitionLeadership.ElectOffline(current.Apply(records)));
                    return Decision.Commit(records);
                },
                cancellationToken).ConfigureAwait(false);
            if (decision.Error == ErrorCode.None)
            {
                LogUnfenced(brokerId);
            }

            return new HeartbeatResult(decision.Error, decision.Error != ErrorCode.None, false, caughtUp);
        }

        return new HeartbeatResult(ErrorCode.None, broker.Fenced, false, caughtUp);
    }

    /// <summary>
    /// AllocateProducerIds: hands a registered broker the next block of <paramref name="blockSize"/> producer ids
    /// by committing a ProducerIdsRecord that moves the image's next producer id past it, so no block is ever
    /// given twice. A broker not registered, or naming an old epoch, is refused as Kafka's controller does.
    /// </summary>
    public async Task<(ErrorCode Error, long Start, int Length)> AllocateProducerIdsAsync(int brokerId, long brokerEpoch, int blockSize, CancellationToken cancellationToken)
    {
        long start = -1;
        var decision = await DecideAsync(
            image =>
            {
                if (!image.Brokers.TryGetValue(brokerId, out var broker))
                {
                    return Decision.Fail(ErrorCode.BrokerIdNotRegistered, $"Broker {brokerId} is not registered.");
                }

                if (broker.Epoch != brokerEpoch)
                {
                    return Decision.Fail(ErrorCode.StaleBrokerEpoch, $"Broker {brokerId} has epoch {broker.Epoch}, not {brokerEpoch}.");
                }

                start = image.NextProducerId;
                return Decision.Commit([new ProducerIdsRecord(brokerId, brokerEpoch, start + blockSize)]);
            },
            cancellationToken).ConfigureAwait(false);
        return decision.Error == ErrorCode.None ? (ErrorCode.None, start, blockSize) : (decision.Error, -1, 0);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // The host disposes its singletons again after the broker's ordered shutdown.
        if (Interlocked.Exchange(ref _disposeCount, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _stopping.Dispose();
        _gate.Dispose();
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(_options.BrokerSessionTimeoutMs / 10, 50, 500)), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await TickAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogTickFailed(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        if (!_quorum.IsLeader)
        {
            _activeSinceMs = -1;
            ForgetAppliedCredentialBootstrap();
            return;
        }

        var now = NowMs;
        if (_activeSinceMs < 0)
        {
            // A new controller has seen no heartbeats yet: every broker gets a full session to send one.
            _activeSinceMs = now;
            _lastPreferredCheckMs = now;
            foreach (var id in _quorum.Current.Brokers.Keys)
            {
                _lastHeartbeatMs[id] = now;
            }
        }

        foreach (var broker in _quorum.Current.Brokers.Values.Where(b => !b.Fenced))
        {
            var last = _lastHeartbeatMs.GetOrAdd(broker.Id, now);
            var silentMs = now - last;
            if (silentMs > _options.BrokerSessionTimeoutMs)
            {
                await FenceAsync(broker.Id, silentMs, refused: false, cancellationToken).ConfigureAwait(false);
            }
            else if (broker.Id != _options.NodeId && silentMs > _options.BrokerHeartbeatIntervalMs * 3 / 2 && await RefusesConnectionsAsync(broker, cancellationToken).ConfigureAwait(false))
            {
                // A broker that missed a heartbeat and whose listener refuses connections is gone (its process
                // died: the kernel closed its port). Waiting out the session timeout would only delay failover.
                // A paused or partitioned broker does not refuse connections, so it keeps the full timeout.
                await FenceAsync(broker.Id, silentMs, refused: true, cancellationToken).ConfigureAwait(false);
            }
        }

        await ApplyCredentialBootstrapAsync(cancellationToken).ConfigureAwait(false);

        if (now - _lastPreferredCheckMs >= _options.LeaderImbalanceCheckIntervalSeconds * 1000L)
        {
            _lastPreferredCheckMs = now;
            await DecideAsync(image => Decision.Commit(PartitionLeadership.ElectPreferred(image)), cancellationToken).ConfigureAwait(false);
        }

        var offline = PartitionLeadership.ElectOffline(_quorum.Current);
        if (offline.Count > 0)
        {
            await DecideAsync(image => Decision.Commit(PartitionLeadership.ElectOffline(image)), cancellationToken).ConfigureAwait(false);
        }

        // Reassignments complete with the ISR change that brings their last target replica in; one left complete by
        // any other change (its target reordered into the ISR it already had) completes here.
        if (PartitionReassignment.CompleteAll(_quorum.Current).Count > 0)
        {
            await DecideAsync(image => Decision.Commit(PartitionReassignment.CompleteAll(image)), cancellationToken).ConfigureAwait(false);
        }

        if (now - _lastHealingCheckMs >= 1000)
        {
            _lastHealingCheckMs = now;
            await HealAsync(now, cancellationToken).ConfigureAwait(false);
        }
    }

    // Self-healing: replicas of a broker fenced longer than broker.failure.self.healing.threshold.ms are re-created on
    // survivors, a bounded number at a time (Healing). How long a broker has been down is counted from when this
    // controller saw it fenced, so a new controller waits the full delay again.
    private async Task HealAsync(long now, CancellationToken cancellationToken)
    {
        var image = _quorum.Current;
        foreach (var broker in image.Brokers.Values)
        {
            if (broker.Fenced)
            {
                _fencedSinceMs.TryAdd(broker.Id, now);
            }
            else
            {
                _fencedSinceMs.Remove(broker.Id);
            }
        }

        foreach (var gone in _fencedSinceMs.Keys.Where(id => !image.Brokers.ContainsKey(id)).ToList())
        {
            _fencedSinceMs.Remove(gone);
        }

        var overdue = _fencedSinceMs.Where(f => now - f.Value >= _options.SelfHealingThresholdMs).Select(f => f.Key).ToList();
        if (overdue.Count == 0)
        {
            _healingHeld = null;
            return;
        }

        HealingStep? step = null;
        var decision = await DecideAsync(
            current =>
            {
                step = Healing.Next(current, overdue, Limits, _options.SelfHealingMaxConcurrentReplicas);
                return step.Decision;
            },
            cancellationToken).ConfigureAwait(false);
        if (step is null || decision.Error != ErrorCode.None)
        {
            return;
        }

        if (step.Moves > 0)
        {
            LogHealing(step.Moves, string.Join(", ", overdue.Order()));
        }

        if (step.Held != _healingHeld)
        {
            _healingHeld = step.Held;
            if (step.Held is not null)
            {
                LogHealingHeld(step.Held);
            }
        }
    }

    private AdminLimits Limits => _limits ??= _options.ResolveAdminLimits();

    /// <summary>
    /// On the active controller: commits the SCRAM credentials of the data directory's bootstrap file (`levee users
    /// set --data-dir`) that the image lacks, then removes the file. Runs on every controller tick; a starting broker
    /// that leads the quorum runs it before it reports ready, so its first clients can authenticate.
    /// </summary>
    public async Task ApplyCredentialBootstrapAsync(CancellationToken cancellationToken)
    {
        if (_credentialBootstrapDone || !File.Exists(Path.Combine(_options.DataDir, Security.CredentialBootstrap.FileName)))
        {
            _credentialBootstrapDone = true;
            return;
        }

        var credentials = Security.CredentialBootstrap.Read(_options.DataDir);
        var decision = await DecideAsync(image => Decision.Commit(Security.CredentialBootstrap.Missing(image, credentials)), cancellationToken).ConfigureAwait(false);
        if (decision.Error == ErrorCode.None)
        {
            Security.CredentialBootstrap.Remove(_options.DataDir);
            _credentialBootstrapDone = true;
            LogCredentialsBootstrapped(decision.Records.Count, credentials.Count);
        }
    }

    // On a node that is not the controller: once the image holds every credential of its file, the file goes, so
    // it cannot bring back a credential deleted later when this node becomes the controller.
    private void ForgetAppliedCredentialBootstrap()
    {
        if (_credentialBootstrapDone || !File.Exists(Path.Combine(_options.DataDir, Security.CredentialBootstrap.FileName)))
        {
            _credentialBootstrapDone = true;
            return;
        }

        if (Security.CredentialBootstrap.Missing(_quorum.Current, Security.CredentialBootstrap.Read(_options.DataDir)).Count == 0)
        {
            Security.CredentialBootstrap.Remove(_options.DataDir);
            _credentialBootstrapDone = true;
        }
    }

    private async Task FenceAsync(int brokerId, long silentMs, bool refused, CancellationToken cancellationToken)
    {
        var decision = await DecideAsync(
            image =>
            {
                if (!image.Brokers.TryGetValue(brokerId, out var current) || current.Fenced)
                {
                    return Decision.Commit([]);
                }

                var records = new List<MetadataRecord> { new FenceBrokerRecord(brokerId, current.Epoch) };
                records.AddRange(PartitionLeadership.RemoveBroker(image.Apply(records), brokerId));
                return Decision.Commit(records);
            },
            cancellationToken).ConfigureAwait(false);
        if (decision.Error == ErrorCode.None)
        {
            LogFenced(brokerId, silentMs, refused ? "its listener refuses connections" : "its session timed out");
        }
    }

    private static async Task<bool> RefusesConnectionsAsync(BrokerRegistration broker, CancellationToken cancellationToken)
    {
        if (broker.EndPoints.IsEmpty)
        {
            return false;
        }

        var endpoint = broker.EndPoints[0];
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(300));
        try
        {
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, timeout.Token).ConfigureAwait(false);
            return false;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode == SocketError.ConnectionRefused;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // No answer in time is not a refusal: the broker may be paused; the session timeout decides.
            return false;
        }
    }

    [LoggerMessage(EventName = "Registered", Level = LogLevel.Information, Message = "Controller: broker {BrokerId} registered with epoch {Epoch}")]
    private partial void LogRegistered(int brokerId, long epoch);

    [LoggerMessage(EventName = "Unfenced", Level = LogLevel.Information, Message = "Controller: broker {BrokerId} unfenced")]
    private partial void LogUnfenced(int brokerId);

    [LoggerMessage(EventName = "Fenced", Level = LogLevel.Warning, Message = "Controller: broker {BrokerId} fenced after {SilentMs} ms without a heartbeat ({Reason}); its leaderships move to in-sync replicas")]
    private partial void LogFenced(int brokerId, long silentMs, string reason);

    [LoggerMessage(EventName = "CredentialsBootstrapped", Level = LogLevel.Information, Message = "Controller: committed {Added} of the {Total} SCRAM credential(s) of the data directory's bootstrap file (the others were there already); the file is removed")]
    private partial void LogCredentialsBootstrapped(int added, int total);

    [LoggerMessage(EventName = "Redeciding", Level = LogLevel.Information, Message = "Controller: deciding again on the current image: {Reason}")]
    private partial void LogRedeciding(string reason);

    [LoggerMessage(EventName = "Rejected", Level = LogLevel.Error, Message = "Controller: a metadata decision did not apply")]
    private partial void LogRejected(Exception exception);

    [LoggerMessage(EventName = "Healing", Level = LogLevel.Warning, Message = "Controller: healing: re-creating {Moves} replica(s) of broker(s) {Brokers} on survivors")]
    private partial void LogHealing(int moves, string brokers);

    [LoggerMessage(EventName = "HealingHeld", Level = LogLevel.Warning, Message = "Controller: {Reason}")]
    private partial void LogHealingHeld(string reason);

    [LoggerMessage(EventName = "TickFailed", Level = LogLevel.Error, Message = "Controller: periodic check failed")]
    private partial void LogTickFailed(Exception exception);
}
