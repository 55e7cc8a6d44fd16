using Levee.Protocol.Records;

namespace Levee.Storage;

/// <summary>
/// Whole record batches as stored, left in their segment file until they are sent: the answer to
/// <see cref="PartitionLog.ReadRecords"/>. It holds a reference to the segment's file handle (the one the read scanned
/// with), so neither the handle cache, nor retention deleting the segment, nor closing the log closes the descriptor
/// before the bytes are read; the reference goes when the last holder lets go (<see cref="DeferredRecords"/>). Put
/// <see cref="DeferredRecords.Memory"/> in a response's records field: a <see cref="Levee.Protocol.Framing.FrameBuffer"/>
/// reads the bytes with one <c>pread</c> into the connection's send buffer.
/// </summary>
public sealed class FileRecords : DeferredRecords
{
    private readonly SegmentFileLease _lease;

    internal FileRecords(SegmentFileLease lease, long position, int length, long nextOffset)
        : base(length)
    {
        _lease = lease;
        Position = position;
        NextOffset = nextOffset;
    }

    /// <summary>File position of the first byte in the segment.</summary>
    public long Position { get; }

    /// <summary>The offset after the last batch (a read_committed fetch's bound for its aborted transactions).</summary>
    public long NextOffset { get; }

    /// <inheritdoc />
    /// <exception cref="IOException">The segment is shorter than expected (truncated since the read).</exception>
    protected override void Read(int offset, Span<byte> destination)
    {
        var position = Position + offset;
        var read = SparseIndex.ReadFully(_lease.Handle, destination, position);
        if (read != destination.Length)
        {
            throw new IOException($"Expected {destination.Length} bytes at position {position}, read {read}: the segment was truncated.");
        }
    }

    /// <inheritdoc />
    protected override void ReleaseResources() => _lease.Dispose();
}
