using System.Buffers;
using System.Buffers.Binary;
using Levee.Protocol.Records;

namespace Levee.Protocol.Framing;

/// <summary>
/// One outgoing frame at a time, reusable: the length prefix, then what is written into it. The message structure is
/// buffered in a pooled array, but <see cref="DeferredRecords"/> are only noted where they go (position and slice),
/// not copied: <see cref="WriteFrameTo"/> emits the frame into the transport's output, copying the buffered bytes and
/// reading each records slice straight into the output's memory, so stored record bytes are copied once, from the
/// file into the send buffer. The buffer thus holds only a response's structure and stays small.
/// </summary>
/// <remarks>
/// The buffer keeps a reference to each deferred records until they are written or the frame is dropped
/// (<see cref="Reset"/>, <see cref="Dispose"/>), whatever happens in between, so a file handle behind them is held
/// exactly as long as needed.
/// </remarks>
public sealed class FrameBuffer : IBufferWriter<byte>, IDeferredRecordsWriter, IDisposable
{
    /// <summary>Largest single read of deferred records into the output: the output is asked for this much memory at most.</summary>
    public const int MaxReadChunk = 1024 * 1024;

    private readonly PooledBufferWriter _bytes = new();
    private readonly List<Splice> _splices = [];
    private long _deferredBytes;

    /// <summary>Creates a buffer (rented from the shared pool on first use) and begins a frame.</summary>
    public FrameBuffer() => BeginFrame();

    /// <summary>Bytes of the frame so far, length prefix and deferred records included.</summary>
    public long FrameLength => _bytes.WrittenCount + _deferredBytes;

    /// <summary>Bytes buffered (length prefix and structure, not the deferred records).</summary>
    public int BufferedCount => _bytes.WrittenCount;

    /// <summary>Deferred records slices noted in the frame so far.</summary>
    public int DeferredCount => _splices.Count;

    /// <summary>Drops what was written (releasing deferred records) and begins a new frame.</summary>
    public void Reset()
    {
        ReleaseSplices();
        BeginFrame();
    }

    /// <inheritdoc />
    public void Advance(int count) => _bytes.Advance(count);

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0) => _bytes.GetMemory(sizeHint);

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0) => _bytes.GetSpan(sizeHint);

    /// <inheritdoc />
    public void WriteDeferred(DeferredRecords records, int start, int length)
    {
        ArgumentNullException.ThrowIfNull(records);
        records.AddReference();
        _splices.Add(new Splice(_bytes.WrittenCount, records, start, length));
        _deferredBytes += length;
    }

    /// <summary>
    /// Writes the frame into <paramref name="output"/>: the length prefix (the exact total), the buffered bytes, and
    /// each deferred records slice at its place, read directly into <paramref name="output"/>'s memory. Then begins a
    /// new frame. The deferred records are released even when reading them fails (<see cref="IOException"/>: the
    /// output then holds a partial frame, and the connection must be closed).
    /// </summary>
    /// <exception cref="InvalidOperationException">The frame is larger than a Kafka frame can be.</exception>
    public void WriteFrameTo(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        try
        {
            var bodyLength = FrameLength - KafkaFrame.LengthPrefixSize;
            if (bodyLength > int.MaxValue)
            {
                throw new InvalidOperationException($"A frame of {bodyLength} bytes is too large.");
            }

            var bytes = _bytes.WrittenSpanMutable;
            BinaryPrimitives.WriteInt32BigEndian(bytes, (int)bodyLength);
            var from = 0;
            foreach (var splice in _splices)
            {
                output.Write(bytes[from..splice.Position]);
                from = splice.Position;
                var done = 0;
                while (done < splice.Length)
                {
                    var span = output.GetSpan(Math.Min(splice.Length - done, MaxReadChunk));
                    var count = Math.Min(span.Length, splice.Length - done);
                    splice.Records.CopyTo(splice.Start + done, span[..count]);
                    output.Advance(count);
                    done += count;
                }
            }

            output.Write(bytes[from..]);
        }
        finally
        {
            Reset();
        }
    }

    /// <summary>Releases deferred records and returns the buffer to the pool.</summary>
    public void Dispose()
    {
        ReleaseSplices();
        _bytes.Dispose();
    }

    private void BeginFrame()
    {
        _bytes.Clear();
        _deferredBytes = 0;
        _bytes.GetSpan(KafkaFrame.LengthPrefixSize);
        _bytes.Advance(KafkaFrame.LengthPrefixSize);
    }

    private void ReleaseSplices()
    {
        if (_splices.Count == 0)
        {
            return;
        }

        try
        {
            foreach (var splice in _splices)
            {
                splice.Records.Release();
            }
        }
        finally
        {
            _splices.Clear();
        }
    }

    private readonly record struct Splice(int Position, DeferredRecords Records, int Start, int Length);
}
