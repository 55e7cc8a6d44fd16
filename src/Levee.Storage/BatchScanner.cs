using System.Buffers;
using System.Buffers.Binary;
using Levee.Protocol.Records;
using Microsoft.Win32.SafeHandles;

namespace Levee.Storage;

/// <summary>
/// Walks batch headers of a segment file forward, reading the file in 16 KiB windows so that a run of small
/// batches costs one read, not one per batch. After a large batch only the next header is read: a window would
/// copy record bytes that a fetch reads again when it sends them. Only headers are looked at; record bytes are
/// never decoded.
/// </summary>
internal struct BatchScanner : IDisposable
{
    private const int WindowSize = 16 * 1024;

    /// <summary>From this batch size on, the batches that follow are taken to be as large: one header per read.</summary>
    private const int LargeBatch = 4 * 1024;

    private readonly SafeFileHandle _file;
    private readonly long _limit;
    private byte[]? _window;
    private long _windowStart;
    private int _windowLength;
    private long _lastBatchSize;

    /// <param name="file">The segment's log file.</param>
    /// <param name="limit">Bytes of the file that may be read (the segment's published size).</param>
    public BatchScanner(SafeFileHandle file, long limit)
    {
        _file = file;
        _limit = limit;
        _window = ArrayPool<byte>.Shared.Rent(WindowSize);
    }

    /// <summary>
    /// Reads the header at <paramref name="position"/>. False when fewer than a header's bytes remain before the
    /// limit, or when the batch the header announces would not end before the limit (a torn tail).
    /// </summary>
    public bool TryReadHeader(long position, out ReadOnlySpan<byte> header)
    {
        header = default;
        if (position + RecordBatchHeader.Size > _limit)
        {
            return false;
        }

        var window = _window ?? throw new ObjectDisposedException(nameof(BatchScanner));
        if (position < _windowStart || position + RecordBatchHeader.Size > _windowStart + _windowLength)
        {
            var want = (int)Math.Min(_lastBatchSize >= LargeBatch ? RecordBatchHeader.Size : window.Length, _limit - position);
            _windowStart = position;
            _windowLength = SparseIndex.ReadFully(_file, window.AsSpan(0, want), position);
            if (_windowLength < RecordBatchHeader.Size)
            {
                return false;
            }
        }

        header = window.AsSpan((int)(position - _windowStart), RecordBatchHeader.Size);
        var batchLength = BinaryPrimitives.ReadInt32BigEndian(header[RecordBatchHeader.BatchLengthPosition..]);
        _lastBatchSize = RecordBatchHeader.LogOverhead + (long)batchLength;
        return batchLength >= RecordBatchHeader.Size - RecordBatchHeader.LogOverhead
            && position + RecordBatchHeader.LogOverhead + batchLength <= _limit;
    }

    public void Dispose()
    {
        if (_window is { } window)
        {
            _window = null;
            ArrayPool<byte>.Shared.Return(window);
        }
    }
}
