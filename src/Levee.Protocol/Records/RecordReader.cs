using System.Buffers.Binary;

namespace Levee.Protocol.Records;

/// <summary>
/// Iterates the records of one batch in place. A compressed batch is first decompressed (bounded) into a
/// caller-provided <see cref="PooledBufferWriter"/> or into one the reader rents and returns on
/// <see cref="Dispose"/>; records are then views into those bytes and live until the reader is disposed
/// (or the caller's buffer is reused). The reader does not check the CRC: validate untrusted bytes with
/// <see cref="RecordBatchValidator"/> first.
/// </summary>
/// <example><code>
/// using var reader = new RecordReader(batch);
/// while (reader.TryReadNext(out var record)) { Use(record.Key, record.Value); }
/// </code></example>
public ref struct RecordReader
{
    /// <summary>Default bound on a batch's decompressed size.</summary>
    public const int DefaultMaxUncompressedBytes = 64 * 1024 * 1024;

    private readonly ReadOnlySpan<byte> _records;
    private readonly long _baseOffset;
    private readonly long _baseTimestamp;
    private readonly long _logAppendTime;
    private PooledBufferWriter? _owned;
    private int _position;
    private int _index;

    /// <summary>Opens <paramref name="batch"/> (one whole batch; trailing bytes are ignored).</summary>
    /// <exception cref="InvalidDataException">The header is malformed or the records do not decompress within the bound.</exception>
    public RecordReader(ReadOnlySpan<byte> batch, int maxUncompressedBytes = DefaultMaxUncompressedBytes)
        : this(batch, null, maxUncompressedBytes)
    {
    }

    /// <summary>
    /// Opens <paramref name="batch"/>, decompressing into <paramref name="buffer"/> (cleared first) when it is
    /// compressed, so a caller iterating many batches reuses one buffer. With a null buffer the reader rents one.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed or the records do not decompress within the bound.</exception>
    public RecordReader(ReadOnlySpan<byte> batch, PooledBufferWriter? buffer, int maxUncompressedBytes = DefaultMaxUncompressedBytes)
    {
        if (batch.Length < RecordBatchHeader.Size || batch[RecordBatchHeader.MagicPosition] != 2)
        {
            throw new InvalidDataException("Not a record batch of magic 2.");
        }

        var total = (long)BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchHeader.BatchLengthPosition..]) + RecordBatchHeader.LogOverhead;
        if (total < RecordBatchHeader.Size || total > batch.Length)
        {
            throw new InvalidDataException("The batch length does not match the bytes given.");
        }

        batch = batch[..(int)total];
        var header = new RecordBatchHeader(batch);
        _baseOffset = header.BaseOffset;
        _baseTimestamp = header.BaseTimestamp;
        _logAppendTime = header.IsLogAppendTime ? header.MaxTimestamp : long.MinValue;
        RecordCount = header.RecordCount;
        Compression = header.Compression;
        _position = 0;
        _index = 0;
        _owned = null;

        var body = batch[RecordBatchHeader.Size..];
        if (header.Compression == CompressionType.None)
        {
            _records = body;
            return;
        }

        var target = buffer ?? (_owned = new PooledBufferWriter());
        target.Clear();
        var status = CompressionCodecs.TryDecompress(header.Compression, body, target, maxUncompressedBytes, out _);
        if (status != DecompressionStatus.Ok)
        {
            Dispose();
            throw new InvalidDataException($"The batch's {header.Compression} records could not be decompressed: {status}.");
        }

        _records = target.WrittenSpan;
    }

    /// <summary>Record count from the batch header.</summary>
    public int RecordCount { get; }

    /// <summary>The batch's compression codec.</summary>
    public CompressionType Compression { get; }

    /// <summary>The records section, decompressed.</summary>
    public readonly ReadOnlySpan<byte> RecordBytes => _records;

    /// <summary>Reads the next record; false after the last one (per the header's record count).</summary>
    /// <exception cref="InvalidDataException">A record is malformed.</exception>
    public bool TryReadNext(out Record record)
    {
        if (_index >= RecordCount)
        {
            record = default;
            return false;
        }

        var error = RecordParser.TryParse(_records, ref _position, _baseOffset, _baseTimestamp, _logAppendTime, out record);
        if (error != RecordParseError.None)
        {
            throw new InvalidDataException($"Record {_index} is malformed: {RecordParser.Describe(error)}.");
        }

        _index++;
        return true;
    }

    /// <summary>Returns a buffer the reader rented, if any.</summary>
    public void Dispose()
    {
        _owned?.Dispose();
        _owned = null;
    }
}
