using System.Buffers;

namespace Levee.Protocol.Records;

/// <summary>
/// A contiguous <see cref="IBufferWriter{T}"/> over arrays rented from <see cref="ArrayPool{T}.Shared"/>.
/// It grows by doubling up to <see cref="MaxCapacity"/> and then refuses to grow
/// (<see cref="InvalidOperationException"/> from GetSpan/GetMemory), so a hostile length can never turn into an unbounded allocation.
/// Dispose (or <see cref="Reset"/>) returns the array to the pool.
/// </summary>
public sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer;
    private int _written;

    /// <summary>Creates a writer; nothing is rented until the first write.</summary>
    public PooledBufferWriter(int maxCapacity = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCapacity);
        MaxCapacity = maxCapacity;
        _buffer = [];
    }

    /// <summary>The most bytes this writer will ever hold.</summary>
    public int MaxCapacity { get; }

    /// <summary>Bytes written so far.</summary>
    public int WrittenCount => _written;

    /// <summary>The bytes written so far.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    /// <summary>The bytes written so far, writable (for in-place patching such as a CRC).</summary>
    public Span<byte> WrittenSpanMutable => _buffer.AsSpan(0, _written);

    /// <summary>The bytes written so far.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    /// <summary>Forgets the written bytes but keeps the rented array for reuse.</summary>
    public void Clear() => _written = 0;

    /// <summary>Forgets the written bytes and returns the rented array to the pool.</summary>
    public void Reset()
    {
        _written = 0;
        var buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <inheritdoc />
    public void Advance(int count)
    {
        if (count < 0 || count > _buffer.Length - _written)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _written += count;
    }

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Returns the rented array to the pool.</summary>
    public void Dispose() => Reset();

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
        {
            sizeHint = 1;
        }

        var free = _buffer.Length - _written;
        if (free >= sizeHint)
        {
            return;
        }

        var needed = (long)_written + sizeHint;
        if (needed > MaxCapacity)
        {
            throw new InvalidOperationException($"The buffer is limited to {MaxCapacity} bytes; {needed} were asked for.");
        }

        var capacity = Math.Max(needed, Math.Min((long)Math.Max(_buffer.Length, 256) * 2, MaxCapacity));
        capacity = Math.Min(capacity, Array.MaxLength);
        var next = ArrayPool<byte>.Shared.Rent((int)capacity);
        _buffer.AsSpan(0, _written).CopyTo(next);
        var old = _buffer;
        _buffer = next;
        if (old.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(old);
        }
    }
}
