using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Cluster.Controller;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Replication;

/// <summary>
/// The leader side of ISR maintenance: every few hundred milliseconds each partition this broker
/// leads proposes its ISR (followers behind for longer than replica.lag.time.max.ms leave, caught-up
/// ones join) and the change goes to the active controller (AlterPartition), which commits it to the
/// metadata log. The partition only acts on the ISR once the image says so.
/// </summary>
public sealed partial class IsrManager : IAsyncDisposable
{
    private const short AlterPartitionVersion = 2;
    private int _disposeCount;
    private readonly ReplicaManager _replicas;
    private readonly ControllerService _controller;
    private readonly BrokerLifecycle _lifecycle;
    private readonly BrokerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    /// <summary>Creates the manager; <see cref="Start"/> runs it.</summary>
    public IsrManager(ReplicaManager replicas, ControllerService controller, BrokerLifecycle lifecycle, BrokerOptions options, TimeProvider time, ILogger<IsrManager> logger)
    {
        _replicas = replicas;
        _controller = controller;
        _lifecycle = lifecycle;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Starts the periodic check.</summary>
    public void Start() => _loop = RunAsync(_stopping.Token);

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
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(_options.ReplicaLagTimeMaxMs / 4, 50, 500)), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var partition in _replicas.Partitions.Where(p => p.IsLeader))
                {
                    if (partition.ProposedIsr(_options.ReplicaLagTimeMaxMs) is not { } isr)
                    {
                        continue;
                    }

                    try
                    {
                        await ProposeAsync(partition, isr, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or TimeoutException)
                    {
                        LogProposalFailed(partition.Id.ToString(), ex.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task ProposeAsync(Partition partition, System.Collections.Immutable.ImmutableArray<int> isr, CancellationToken cancellationToken)
    {
        var state = partition.State;
        ErrorCode error;
        if (_controller.IsActive)
        {
            var decision = await _controller.DecideAsync(
                image => ControllerDecisions.AlterIsr(image, state.TopicId, state.PartitionId, _options.NodeId, state.LeaderEpoch, state.PartitionEpoch, isr),
                cancellationToken).ConfigureAwait(false);
            error = decision.Error;
        }
        else
        {
            var request = new AlterPartitionRequest { BrokerId = _options.NodeId, BrokerEpoch = _lifecycle.BrokerEpoch };
            var topic = new AlterPartitionRequest.TopicData { TopicId = state.TopicId };
            var data = new AlterPartitionRequest.PartitionData { PartitionIndex = state.PartitionId, LeaderEpoch = state.LeaderEpoch, PartitionEpoch = state.PartitionEpoch };
            data.NewIsr.AddRange(isr);
            topic.Partitions.Add(data);
            request.Topics.Add(topic);
            // Bounded and abandoned on a controller change, so a paused controller cannot stall every ISR change.
            var response = await _lifecycle.SendToControllerAsync<AlterPartitionRequest, AlterPartitionResponse>(ApiKey.AlterPartition, AlterPartitionVersion, request, cancellationToken).ConfigureAwait(false);
            if (response is null)
            {
                return;
            }

            error = (ErrorCode)(response.ErrorCode != 0 ? response.ErrorCode : response.Topics.SelectMany(t => t.Partitions).Select(p => p.ErrorCode).FirstOrDefault());
        }

        if (error == ErrorCode.None)
        {
            LogIsrChanged(partition.Id.ToString(), string.Join(',', state.Isr), string.Join(',', isr));
        }
    }

    [LoggerMessage(EventName = "IsrChanged", Level = LogLevel.Information, Message = "ISR of {Partition} changed from [{From}] to [{To}]")]
    private partial void LogIsrChanged(string partition, string from, string to);

    [LoggerMessage(EventName = "ProposalFailed", Level = LogLevel.Debug, Message = "ISR proposal for {Partition} failed: {Problem}")]
    private partial void LogProposalFailed(string partition, string problem);
}
