using System.Buffers;

namespace Levee.Protocol.Records;

/// <summary>
/// A records field whose bytes are not in memory: a run of a segment file, say. It travels in the generated
/// messages' <c>ReadOnlyMemory&lt;byte&gt;?</c> records fields as the memory's <see cref="MemoryManager{T}"/>
/// (<see cref="MemoryManager{T}.Memory"/>), so the generated code needs no special case: an output implementing
/// <see cref="IDeferredRecordsWriter"/> takes the records by reference at their place in the message, and the
/// transport reads them straight into its send buffers (<see cref="CopyTo"/>) when it writes the frame. Any other
/// consumer of the memory (an ordinary <see cref="IBufferWriter{T}"/>, code reading <c>.Span</c>) gets the bytes
/// read once into a pooled array, so nothing else has to know.
/// </summary>
/// <remarks>
/// Reference counted, because the bytes may be wanted after the message that carried them is done with: the creator
/// owns the first reference and gives it up with <see cref="IDisposable.Dispose"/> (idempotent); an output that keeps
/// the records until it writes them takes its own with <see cref="AddReference"/> and gives it up with
/// <see cref="Release"/>. When the last reference goes, <see cref="ReleaseResources"/> runs (the file handle goes back).
/// </remarks>
public abstract class DeferredRecords : MemoryManager<byte>
{
    private int _references = 1;
    private int _ownerReleased;
    private byte[]? _materialized;

    /// <summary>Creates records of <paramref name="length"/> bytes; the caller holds the first reference.</summary>
    protected DeferredRecords(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
    }

    /// <summary>Bytes of records.</summary>
    public int Length { get; }

    /// <summary>The records as memory, without reading them (unlike the base class, which asks for the span).</summary>
    public override Memory<byte> Memory => CreateMemory(Length);

    /// <summary>
    /// Reads bytes <paramref name="offset"/> .. <paramref name="offset"/> + destination length of the records into
    /// <paramref name="destination"/>. Throws <see cref="IOException"/> when they cannot all be read.
    /// </summary>
    public void CopyTo(int offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(destination.Length, Length - offset, nameof(destination));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _references) <= 0, this);
        if (!destination.IsEmpty)
        {
            Read(offset, destination);
        }
    }

    /// <summary>Takes a reference for a holder other than the creator (an output keeping the records until it writes them).</summary>
    /// <exception cref="ObjectDisposedException">Every reference is already gone.</exception>
    public void AddReference()
    {
        var current = Volatile.Read(ref _references);
        while (true)
        {
            ObjectDisposedException.ThrowIf(current <= 0, this);
            var seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>Gives up a reference taken with <see cref="AddReference"/>.</summary>
    public void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left > 0)
        {
            return;
        }

        if (left < 0)
        {
            throw new InvalidOperationException("Deferred records released more often than referenced.");
        }

        if (Interlocked.Exchange(ref _materialized, null) is { } materialized)
        {
            ArrayPool<byte>.Shared.Return(materialized);
        }

        ReleaseResources();
    }

    /// <summary>The bytes, read into a pooled array on first use (for consumers that are not an <see cref="IDeferredRecordsWriter"/>).</summary>
    public override Span<byte> GetSpan() => Materialize().AsSpan(0, Length);

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0) => Materialize().AsMemory(elementIndex).Pin();

    /// <inheritdoc />
    public override void Unpin()
    {
        // The handle from Pin unpins its array itself.
    }

    /// <summary>Reads bytes of the records into <paramref name="destination"/> (all of it, or throws <see cref="IOException"/>).</summary>
    protected abstract void Read(int offset, Span<byte> destination);

    /// <summary>Runs once, when the last reference is given up.</summary>
    protected abstract void ReleaseResources();

    /// <summary>Gives up the creator's reference (once, however often it is called).</summary>
    protected sealed override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _ownerReleased, 1) == 0)
        {
            Release();
        }
    }

    private byte[] Materialize()
    {
        if (Volatile.Read(ref _materialized) is { } existing)
        {
            return existing;
        }

        var bytes = ArrayPool<byte>.Shared.Rent(Math.Max(Length, 1));
        CopyTo(0, bytes.AsSpan(0, Length));
        if (Interlocked.CompareExchange(ref _materialized, bytes, null) is { } raced)
        {
            ArrayPool<byte>.Shared.Return(bytes);
            return raced;
        }

        return bytes;
    }
}

/// <summary>
/// An output that takes <see cref="DeferredRecords"/> by reference: <see cref="KafkaWriter.WriteRecords"/> writes the
/// length prefix and then, instead of copying the bytes, tells the output where they go.
/// </summary>
public interface IDeferredRecordsWriter
{
    /// <summary>
    /// Records that bytes <paramref name="start"/> .. <paramref name="start"/> + <paramref name="length"/> of
    /// <paramref name="records"/> come next in the output. The output takes its own reference
    /// (<see cref="DeferredRecords.AddReference"/>) if it keeps them.
    /// </summary>
    void WriteDeferred(DeferredRecords records, int start, int length);
}
