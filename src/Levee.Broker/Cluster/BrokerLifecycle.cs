using Levee.Cluster.Quorum;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Cluster;

/// <summary>
/// This broker's membership in the cluster, as a KRaft broker keeps it: it registers with the
/// active controller (directly when this node is the controller, else with a BrokerRegistration
/// request to it), heartbeats every broker.heartbeat.interval.ms, is unfenced once it has caught up
/// with the metadata log, re-registers if the controller forgot it, and on shutdown asks the
/// controller to move its leaderships away before it stops (controlled shutdown).
/// </summary>
public sealed partial class BrokerLifecycle : IAsyncDisposable
{
    private const short RegistrationVersion = 3;
    private const short HeartbeatVersion = 1;
    private int _disposeCount;
    private readonly MetadataQuorum _quorum;
    private readonly ControllerService _controller;
    private readonly ControllerChannel _channel;
    private readonly BrokerOptions _options;
    private readonly BrokerIdentity _identity;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _unfenced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _shutDownAllowed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private long _epoch = -1;
    private volatile bool _wantShutDown;
    private Task? _loop;
    private CancellationTokenSource _leaderTerm = new();

    /// <summary>Creates the lifecycle of this broker; <see cref="Start"/> begins registering.</summary>
    public BrokerLifecycle(MetadataQuorum quorum, ControllerService controller, ControllerChannel channel, BrokerOptions options, BrokerIdentity identity, TimeProvider time, ILogger<BrokerLifecycle> logger)
    {
        _quorum = quorum;
        _controller = controller;
        _channel = channel;
        _options = options;
        _identity = identity;
        _time = time;
        _logger = logger;
        _quorum.LeaderChanged += OnLeaderChanged;
    }

    /// <summary>How long a controlled shutdown waits for a quorum without a leader to elect one (several election timeouts).</summary>
    private static readonly TimeSpan NoControllerGrace = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan ShutdownPollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long a request to a remote controller may take before it is abandoned and sent again (to whichever
    /// node leads then): a third of broker.session.timeout.ms, at least one heartbeat interval. A controller
    /// that was paused (SIGSTOP) or cut off keeps its TCP connection open and never answers; without this
    /// bound the heartbeat loop would wait on it forever and the new controller would fence this broker.
    /// </summary>
    public TimeSpan ControllerRequestTimeout => TimeSpan.FromMilliseconds(Math.Max(_options.BrokerHeartbeatIntervalMs, _options.BrokerSessionTimeoutMs / 3));

    /// <summary>
    /// Sends a request to the active controller over the controller channel, bounded by
    /// <see cref="ControllerRequestTimeout"/> and abandoned at once when the quorum leader changes; both
    /// surface as <see cref="TimeoutException"/> so callers retry. Returns null while no controller is known.
    /// </summary>
    public async Task<TResponse?> SendToControllerAsync<TRequest, TResponse>(ApiKey key, short version, TRequest request, CancellationToken cancellationToken)
        where TRequest : IKafkaMessage
        where TResponse : class, IKafkaMessage<TResponse>
    {
        var client = _channel.Client();
        if (client is null)
        {
            return null;
        }

        return await ControllerRequest.RunAsync(
            token => client.SendAsync<TRequest, TResponse>(key, version, request, token),
            ControllerRequestTimeout,
            _time,
            Volatile.Read(ref _leaderTerm).Token,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Completes when the controller first unfences this broker.</summary>
    public Task Unfenced => _unfenced.Task;

    /// <summary>The broker epoch of the current registration, or -1.</summary>
    public long BrokerEpoch => Interlocked.Read(ref _epoch);

    /// <summary>Starts registering and heartbeating; call once the Kafka listener is bound.</summary>
    public void Start() => _loop = RunAsync(_stopping.Token);

    /// <summary>
    /// Controlled shutdown: asks the controller to move this broker's leaderships to other in-sync
    /// replicas and waits until it leads nothing, or until <paramref name="timeout"/>. Gives up sooner when the
    /// metadata quorum has had no leader for <see cref="NoControllerGrace"/>: nobody could move anything.
    /// </summary>
    public async Task<bool> ControlledShutdownAsync(TimeSpan timeout)
    {
        _wantShutDown = true;
        var start = _time.GetTimestamp();
        long? leaderlessSince = null;
        while (!_shutDownAllowed.Task.IsCompleted)
        {
            var now = _time.GetTimestamp();
            if (_time.GetElapsedTime(start, now) >= timeout)
            {
                return false;
            }

            leaderlessSince = _quorum.LeaderId is null ? leaderlessSince ?? now : null;
            if (leaderlessSince is { } since && _time.GetElapsedTime(since, now) >= NoControllerGrace)
            {
                return false;
            }

            // Poll: the quorum raises no event when it loses its leader for good.
            await Task.WhenAny(_shutDownAllowed.Task, Task.Delay(ShutdownPollInterval, _time)).ConfigureAwait(false);
        }

        return true;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // The host disposes its singletons again after the broker's ordered shutdown.
        if (Interlocked.Exchange(ref _disposeCount, 1) != 0)
        {
            return;
        }

        _quorum.LeaderChanged -= OnLeaderChanged;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private void OnLeaderChanged(object? sender, QuorumLeaderChangedEventArgs e)
    {
        // Requests in flight to the previous controller are abandoned: the next attempt goes to the new one.
        // The old source is cancelled but not disposed, as calls may still be linking to its token.
        var previous = Interlocked.Exchange(ref _leaderTerm, new CancellationTokenSource());
        previous.Cancel();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var fast = TimeSpan.FromMilliseconds(100);
        var interval = TimeSpan.FromMilliseconds(_options.BrokerHeartbeatIntervalMs);
        while (!cancellationToken.IsCancellationRequested)
        {
            var delay = interval;
            try
            {
                if (BrokerEpoch < 0)
                {
                    await RegisterAsync(cancellationToken).ConfigureAwait(false);
                    delay = fast;
                }
                else
                {
                    var result = await HeartbeatAsync(cancellationToken).ConfigureAwait(false);
                    if (result.Error is ErrorCode.StaleBrokerEpoch or ErrorCode.BrokerIdNotRegistered)
                    {
                        Interlocked.Exchange(ref _epoch, -1);
                        delay = fast;
                    }
                    else if (result.Error == ErrorCode.None)
                    {
                        if (!result.IsFenced)
                        {
                            _unfenced.TrySetResult();
                        }
                        else
                        {
                            delay = fast;
                        }

                        if (result.ShouldShutDown)
                        {
                            _shutDownAllowed.TrySetResult();
                        }
                    }
                    else
                    {
                        delay = fast;
                    }
                }

                if (_wantShutDown)
                {
                    delay = fast;
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or TimeoutException)
            {
                // The controller moved or is unreachable: try again soon; the quorum tells who leads next.
                LogControllerUnreachable(ex.Message);
                delay = fast;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var endpoints = _identity.Endpoints;
        if (_controller.IsActive)
        {
            var (error, epoch) = await _controller.RegisterBrokerAsync(_identity.NodeId, _identity.IncarnationId, endpoints, null, cancellationToken).ConfigureAwait(false);
            if (error == ErrorCode.None)
            {
                Interlocked.Exchange(ref _epoch, epoch);
            }

            return;
        }

        var request = new BrokerRegistrationRequest { BrokerId = _identity.NodeId, IncarnationId = _identity.IncarnationId };
        foreach (var endpoint in endpoints)
        {
            request.Listeners.Add(new BrokerRegistrationRequest.Listener { Name = endpoint.Name, Host = endpoint.Host, Port = (ushort)endpoint.Port, SecurityProtocol = endpoint.SecurityProtocol });
        }

        var response = await SendToControllerAsync<BrokerRegistrationRequest, BrokerRegistrationResponse>(ApiKey.BrokerRegistration, RegistrationVersion, request, cancellationToken).ConfigureAwait(false);
        if (response is { ErrorCode: (short)ErrorCode.None })
        {
            Interlocked.Exchange(ref _epoch, response.BrokerEpoch);
        }
    }

    private async Task<HeartbeatResult> HeartbeatAsync(CancellationToken cancellationToken)
    {
        var offset = _quorum.Current.Offset;
        if (_controller.IsActive)
        {
            return await _controller.HeartbeatAsync(_identity.NodeId, BrokerEpoch, offset, false, _wantShutDown, cancellationToken).ConfigureAwait(false);
        }

        var request = new BrokerHeartbeatRequest { BrokerId = _identity.NodeId, BrokerEpoch = BrokerEpoch, CurrentMetadataOffset = offset, WantShutDown = _wantShutDown };
        var response = await SendToControllerAsync<BrokerHeartbeatRequest, BrokerHeartbeatResponse>(ApiKey.BrokerHeartbeat, HeartbeatVersion, request, cancellationToken).ConfigureAwait(false);
        if (response is null)
        {
            return new HeartbeatResult(ErrorCode.NotController, true, false, false);
        }

        return new HeartbeatResult((ErrorCode)response.ErrorCode, response.IsFenced, response.ShouldShutDown, response.IsCaughtUp);
    }

    [LoggerMessage(EventName = "ControllerUnreachable", Level = LogLevel.Debug, Message = "Controller unreachable, retrying: {Problem}")]
    private partial void LogControllerUnreachable(string problem);
}

/// <summary>A request to the controller with a deadline, abandoned when the controller changes.</summary>
public static class ControllerRequest
{
    /// <summary>
    /// Runs <paramref name="send"/> with a token cancelled after <paramref name="timeout"/> or when
    /// <paramref name="leaderChanged"/> fires; either surfaces as <see cref="TimeoutException"/> (retry), while
    /// <paramref name="cancellationToken"/> (stopping) surfaces as <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> send, TimeSpan timeout, TimeProvider time, CancellationToken leaderChanged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(send);
        using var deadline = new CancellationTokenSource(timeout, time);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, leaderChanged, deadline.Token);
        try
        {
            return await send(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                !deadline.IsCancellationRequested
                    ? "The controller changed while a request to it was in flight."
                    : $"The controller did not answer within {timeout.TotalMilliseconds:0} ms.",
                ex);
        }
    }
}
