using Microsoft.Win32.SafeHandles;

namespace Levee.Storage;

/// <summary>A run of stored bytes in one segment file.</summary>
/// <param name="Handle">
/// The segment's file handle when the read was made. A rolled segment's handle may be closed by the handle cache
/// afterwards: copy with <see cref="LogReadResult.CopyTo"/> / <see cref="LogReadResult.CopyToAsync"/>, which
/// reopen the file when needed, rather than reading this handle directly.
/// </param>
/// <param name="Position">File position of the first byte.</param>
/// <param name="Length">Bytes.</param>
public readonly record struct FileSlice(SafeFileHandle Handle, long Position, int Length);

/// <summary>
/// The answer to <see cref="PartitionLog.Read(long, int, long, bool)"/>: whole record batches, as stored, described as file slices so
/// the caller can copy them straight into its response buffer (or, later, sendfile them). Nothing is read until
/// <see cref="CopyTo"/> / <see cref="CopyToAsync"/>.
/// </summary>
public sealed class LogReadResult
{
    private static readonly FileSlice[] NoSlices = [];
    private static readonly LogSegment[] NoSources = [];

    private readonly LogSegment[] _sources;

    internal LogReadResult(FileSlice[] slices, LogSegment[] sources, int length, long highWatermark, long logStartOffset, long logEndOffset)
    {
        Slices = slices;
        _sources = sources;
        Length = length;
        HighWatermark = highWatermark;
        LogStartOffset = logStartOffset;
        LogEndOffset = logEndOffset;
    }

    internal static LogReadResult Empty(long highWatermark, long logStartOffset, long logEndOffset) =>
        new(NoSlices, NoSources, 0, highWatermark, logStartOffset, logEndOffset);

    /// <summary>The bytes, in order. Today always zero or one slice: like Kafka, a read never spans segments.</summary>
    public IReadOnlyList<FileSlice> Slices { get; }

    /// <summary>Total bytes (sum of slice lengths).</summary>
    public int Length { get; }

    /// <summary>High watermark when the read was made.</summary>
    public long HighWatermark { get; }

    /// <summary>Log start offset when the read was made.</summary>
    public long LogStartOffset { get; }

    /// <summary>Log end offset when the read was made.</summary>
    public long LogEndOffset { get; }

    /// <summary>Copies the bytes into <paramref name="destination"/> (at least <see cref="Length"/> bytes) with positional reads.</summary>
    /// <exception cref="IOException">The file is shorter than expected (truncated since the read).</exception>
    public void CopyTo(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        for (var i = 0; i < _sources.Length; i++)
        {
            var slice = Slices[i];

            // The segment's current handle (reopened if the cache closed it), held for the copy.
            using var lease = _sources[i].AcquireLog();
            var read = SparseIndex.ReadFully(lease.Handle, destination[..slice.Length], slice.Position);
            if (read != slice.Length)
            {
                throw new IOException($"Expected {slice.Length} bytes at position {slice.Position}, read {read}: the segment was truncated.");
            }

            destination = destination[slice.Length..];
        }
    }

    /// <summary>Asynchronous <see cref="CopyTo"/>.</summary>
    public async ValueTask CopyToAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        for (var i = 0; i < _sources.Length; i++)
        {
            var slice = Slices[i];
            using var lease = _sources[i].AcquireLog();
            var total = 0;
            while (total < slice.Length)
            {
                var n = await RandomAccess.ReadAsync(lease.Handle, destination.Slice(total, slice.Length - total), slice.Position + total, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new IOException($"Expected {slice.Length} bytes at position {slice.Position}, read {total}: the segment was truncated.");
                }

                total += n;
            }

            destination = destination[slice.Length..];
        }
    }
}
