using System.Buffers;
using System.Buffers.Binary;
using Levee.Protocol.Framing;

namespace Levee.Broker.Network;

/// <summary>What <see cref="RequestFrameReader.TryRead"/> found.</summary>
public enum RequestFrameStatus
{
    /// <summary>A whole frame is in <see cref="RequestFrameReader.Frame"/>.</summary>
    Complete,

    /// <summary>More bytes are needed; what came so far is consumed.</summary>
    Incomplete,

    /// <summary>The length prefix is negative or above <c>socket.request.max.bytes</c>: the connection must be closed.</summary>
    Invalid,

    /// <summary>
    /// The next frame's size is not available in the request memory budget: <see cref="RequestFrameReader.WaitForMemoryAsync"/>
    /// before reading on. Nothing of the frame was consumed.
    /// </summary>
    AwaitingMemory,
}

/// <summary>
/// The request frames of one connection, each copied into a pooled buffer as its bytes arrive, once its size has been
/// drawn from the broker's <see cref="RequestMemoryBudget"/>. Bytes are consumed from the transport as they are copied,
/// so the transport's pipe holds no more than its read buffer (Kestrel's <c>MaxReadBufferSize</c>) whatever the frame's
/// size, and a frame waiting for memory is not read at all. Sans-I/O, as <see cref="KafkaFrame"/>: it only looks at the
/// bytes given. One frame at a time, as a connection's requests are served one at a time.
/// </summary>
public sealed class RequestFrameReader(RequestMemoryBudget budget, int maxFrameBytes) : IDisposable
{
    // The frame being read or read: a pooled buffer of at least _length bytes, _filled of them copied so far.
    private byte[]? _buffer;
    private int _length;
    private int _filled;
    private bool _complete;

    // The budget drawn for the frame (-1: none), and the length of a frame waiting for memory (-1: none).
    private int _drawn = -1;
    private int _pending = -1;
    private Action? _release;

    // What the frame drew from its tenant's share of the budget (-1: nothing), and from which share.
    private int _tenantDrawn = -1;
    private RequestMemoryBudget? _tenantDrawnFrom;

    /// <summary>
    /// The share of the budget of the tenant the connection is bound to (<c>queued.max.request.bytes.per.tenant</c>), set
    /// once it authenticates as a tenant's principal: every later frame is drawn from it as well, so one tenant's
    /// connections together never hold more than their share.
    /// </summary>
    public RequestMemoryBudget? TenantBudget { get; set; }

    /// <summary>The frame found by the last <see cref="TryRead"/> that returned <see cref="RequestFrameStatus.Complete"/>, until <see cref="ReleaseFrame"/>.</summary>
    public Memory<byte> Frame { get; private set; }

    /// <summary><see cref="ReleaseFrame"/> as a delegate, made once per connection, for the requests it serves.</summary>
    public Action Release => _release ??= ReleaseFrame;

    /// <summary>The length prefix of the frame being read, once its 4 bytes came; -1 before.</summary>
    public int DeclaredLength { get; private set; } = -1;

    /// <summary>
    /// Whether a frame is partly read: its length prefix came, its memory was drawn and some but not all of it is
    /// copied (<see cref="Received"/> of <see cref="DeclaredLength"/> bytes). A frame waiting for memory is not: none
    /// of it is read yet.
    /// </summary>
    public bool IsPartial => _buffer is not null && !_complete;

    /// <summary>The bytes of the frame being read copied so far, its length prefix not counted; 0 when none is being read.</summary>
    public int Received => _buffer is null ? 0 : _filled;

    /// <summary>
    /// Reads what <paramref name="input"/> holds of the next frame, copying and consuming it. A frame found must be
    /// released (<see cref="ReleaseFrame"/>) before the next is read.
    /// </summary>
    public RequestFrameStatus TryRead(ref ReadOnlySequence<byte> input)
    {
        if (_complete)
        {
            throw new InvalidOperationException("The previous frame was not released.");
        }

        if (_buffer is null)
        {
            if (input.Length < KafkaFrame.LengthPrefixSize)
            {
                return RequestFrameStatus.Incomplete;
            }

            Span<byte> prefix = stackalloc byte[KafkaFrame.LengthPrefixSize];
            input.Slice(0, KafkaFrame.LengthPrefixSize).CopyTo(prefix);
            var length = BinaryPrimitives.ReadInt32BigEndian(prefix);
            DeclaredLength = length;
            if (length < 0 || length > maxFrameBytes)
            {
                return RequestFrameStatus.Invalid;
            }

            // The prefix stays unconsumed while the frame waits for memory: the frame is read from it once granted.
            // A tenant's connection draws from its tenant's share first, then from the broker's budget.
            if (TenantBudget is { } share && _tenantDrawn < 0)
            {
                if (!share.TryAcquire(length))
                {
                    _pending = length;
                    return RequestFrameStatus.AwaitingMemory;
                }

                (_tenantDrawn, _tenantDrawnFrom) = (length, share);
            }

            if (_drawn < 0)
            {
                if (!budget.TryAcquire(length))
                {
                    _pending = length;
                    return RequestFrameStatus.AwaitingMemory;
                }

                _drawn = length;
            }

            _pending = -1;
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
            _length = length;
            _filled = 0;
            input = input.Slice(KafkaFrame.LengthPrefixSize);
        }

        var take = (int)Math.Min(input.Length, _length - _filled);
        input.Slice(0, take).CopyTo(_buffer.AsSpan(_filled));
        input = input.Slice(take);
        _filled += take;
        if (_filled < _length)
        {
            return RequestFrameStatus.Incomplete;
        }

        _complete = true;
        Frame = new Memory<byte>(_buffer, 0, _length);
        return RequestFrameStatus.Complete;
    }

    /// <summary>Waits for the memory of the frame <see cref="TryRead"/> found no room for; the next <see cref="TryRead"/> reads it.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public async ValueTask WaitForMemoryAsync(CancellationToken cancellationToken)
    {
        if (_pending < 0 || _drawn >= 0)
        {
            throw new InvalidOperationException("No frame is waiting for memory.");
        }

        if (TenantBudget is { } share && _tenantDrawn < 0)
        {
            await share.AcquireAsync(_pending, cancellationToken).ConfigureAwait(false);
            (_tenantDrawn, _tenantDrawnFrom) = (_pending, share);
        }

        await budget.AcquireAsync(_pending, cancellationToken).ConfigureAwait(false);
        _drawn = _pending;
    }

    /// <summary>
    /// Lets go of the complete frame: its buffer goes back to the pool and its size to the budget. Idempotent, so a
    /// handler may release early (<c>RequestContext.ReleaseRequestBytes</c>) what the connection
    /// releases again once the request is answered.
    /// </summary>
    public void ReleaseFrame()
    {
        if (!_complete)
        {
            return;
        }

        _complete = false;
        Frame = default;
        ReturnBuffer();
        ReturnDrawn();
    }

    /// <summary>Lets go of everything: the frame being read or read, and the memory drawn for it.</summary>
    public void Dispose()
    {
        _complete = false;
        Frame = default;
        ReturnBuffer();
        ReturnDrawn();
    }

    private void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void ReturnDrawn()
    {
        if (_drawn >= 0)
        {
            budget.Release(_drawn);
            _drawn = -1;
        }

        if (_tenantDrawn >= 0)
        {
            _tenantDrawnFrom!.Release(_tenantDrawn);
            (_tenantDrawn, _tenantDrawnFrom) = (-1, null);
        }
    }
}
