using Levee.Broker.Cluster;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Producers;

/// <summary>
/// Hands out producer ids for InitProducerId, as Kafka's RPC producer id manager does: ids come from blocks of
/// <see cref="BlockSize"/> that the active controller allocates (AllocateProducerIds) by committing a
/// <c>ProducerIdsRecord</c> that moves the image's next producer id past the block. Every block is therefore handed
/// to one broker once, cluster-wide and across restarts and crashes (a broker that stops only wastes the rest of
/// its block). When this node is the active controller the block is allocated by a local call, else by an
/// AllocateProducerIds request to the controller's Kafka listener taken from the metadata image.
/// </summary>
/// <remarks>
/// It also remembers the epochs it handed out so that a producer re-initialising with its current id and epoch
/// (InitProducerId v3+, KIP-360) gets the same id with the epoch bumped, and a retry of that request (the previous
/// epoch) gets the same answer again. The memory is bounded (<see cref="MaxRememberedProducers"/>) and not
/// persisted: a producer it does not remember simply gets a new id, which is always safe.
/// </remarks>
public sealed partial class ProducerIdManager : IDisposable
{
    /// <summary>Ids per block (Kafka's AllocateProducerIds block size).</summary>
    public const int BlockSize = 1000;

    /// <summary>Producers whose epochs are remembered for KIP-360 bumps; beyond that the memory is reset.</summary>
    public const int MaxRememberedProducers = 100_000;

    private const short AllocateVersion = 0;

    private readonly ControllerService _controller;
    private readonly ControllerChannel _channel;
    private readonly BrokerLifecycle _lifecycle;
    private readonly BrokerIdentity _identity;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<long, (short Current, short Previous)> _epochs = [];
    private long _next;
    private long _blockEnd;

    /// <summary>Creates the manager of this broker; it asks for its first block on the first InitProducerId.</summary>
    public ProducerIdManager(ControllerService controller, ControllerChannel channel, BrokerLifecycle lifecycle, BrokerIdentity identity, TimeProvider time, ILogger<ProducerIdManager> logger)
    {
        _controller = controller;
        _channel = channel;
        _lifecycle = lifecycle;
        _identity = identity;
        _time = time;
        _logger = logger;
    }

    /// <summary>How long <see cref="InitProducerAsync"/> keeps asking for a block (controller moving) before giving up.</summary>
    public TimeSpan AllocationTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A producer id and epoch for a non-transactional producer. With <paramref name="currentProducerId"/> and
    /// <paramref name="currentEpoch"/> naming the id and epoch this manager last gave that producer, the epoch is
    /// bumped (KIP-360); when the epoch would be exhausted, or the producer is unknown, a new id with epoch 0.
    /// When no block can be had from the controller within <see cref="AllocationTimeout"/>, the error is
    /// COORDINATOR_LOAD_IN_PROGRESS (retriable), as Kafka answers then.
    /// </summary>
    public async Task<(ErrorCode Error, long ProducerId, short Epoch)> InitProducerAsync(long currentProducerId, short currentEpoch, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (currentProducerId >= 0 && _epochs.TryGetValue(currentProducerId, out var known))
            {
                if (currentEpoch == known.Current && known.Current < short.MaxValue - 1)
                {
                    var bumped = (short)(known.Current + 1);
                    _epochs[currentProducerId] = (bumped, known.Current);
                    return (ErrorCode.None, currentProducerId, bumped);
                }

                if (currentEpoch == known.Previous && known.Previous >= 0)
                {
                    // A retry of the bump whose answer was lost: the same answer again.
                    return (ErrorCode.None, currentProducerId, known.Current);
                }
            }

            if (_next >= _blockEnd && !await AllocateBlockAsync(cancellationToken).ConfigureAwait(false))
            {
                return (ErrorCode.CoordinatorLoadInProgress, -1, -1);
            }

            var id = _next++;
            if (_epochs.Count >= MaxRememberedProducers)
            {
                _epochs.Clear();
            }

            _epochs[id] = (0, -1);
            return (ErrorCode.None, id, 0);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose() => _gate.Dispose();

    private async Task<bool> AllocateBlockAsync(CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + AllocationTimeout;
        while (true)
        {
            var (error, start, length) = await TryAllocateAsync(cancellationToken).ConfigureAwait(false);
            if (error == ErrorCode.None && length > 0)
            {
                _next = start;
                _blockEnd = start + length;
                LogBlock(_identity.NodeId, start, start + length - 1);
                return true;
            }

            if (_time.GetUtcNow() >= deadline)
            {
                LogNoBlock(_identity.NodeId, error);
                return false;
            }

            // The controller is moving or this broker is re-registering: ask again shortly.
            await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<(ErrorCode Error, long Start, int Length)> TryAllocateAsync(CancellationToken cancellationToken)
    {
        var epoch = _lifecycle.BrokerEpoch;
        if (epoch < 0)
        {
            return (ErrorCode.BrokerIdNotRegistered, -1, 0);
        }

        if (_controller.IsActive)
        {
            return await _controller.AllocateProducerIdsAsync(_identity.NodeId, epoch, BlockSize, cancellationToken).ConfigureAwait(false);
        }

        var client = _channel.Client();
        if (client is null)
        {
            return (ErrorCode.NotController, -1, 0);
        }

        try
        {
            var request = new AllocateProducerIdsRequest { BrokerId = _identity.NodeId, BrokerEpoch = epoch };
            var response = await client.SendAsync<AllocateProducerIdsRequest, AllocateProducerIdsResponse>(ApiKey.AllocateProducerIds, AllocateVersion, request, cancellationToken).ConfigureAwait(false);
            return ((ErrorCode)response.ErrorCode, response.ProducerIdStart, response.ProducerIdLen);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            LogControllerUnreachable(client.Address, ex.Message);
            return (ErrorCode.NetworkException, -1, 0);
        }
    }

    [LoggerMessage(EventName = "Block", Level = LogLevel.Information, Message = "Broker {NodeId}: producer id block {First}-{Last} from the controller")]
    private partial void LogBlock(int nodeId, long first, long last);

    [LoggerMessage(EventName = "NoBlock", Level = LogLevel.Warning, Message = "Broker {NodeId}: no producer id block from the controller ({Error}); InitProducerId answers COORDINATOR_LOAD_IN_PROGRESS")]
    private partial void LogNoBlock(int nodeId, ErrorCode error);

    [LoggerMessage(EventName = "ControllerUnreachable", Level = LogLevel.Debug, Message = "Controller {Address} unreachable for AllocateProducerIds: {Problem}")]
    private partial void LogControllerUnreachable(string address, string problem);
}
