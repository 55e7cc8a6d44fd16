using System.Buffers.Binary;

namespace Levee.Protocol.Records;

/// <summary>
/// The fixed 61-byte header of a Kafka RecordBatch (message format v2, magic 2), read in place.
/// Layout (big-endian): baseOffset int64 @0, batchLength int32 @8, partitionLeaderEpoch int32 @12,
/// magic int8 @16, crc uint32 @17, attributes int16 @21, lastOffsetDelta int32 @23,
/// baseTimestamp int64 @27, maxTimestamp int64 @35, producerId int64 @43, producerEpoch int16 @51,
/// baseSequence int32 @53, recordCount int32 @57. The CRC-32C covers bytes from attributes (@21) to the end.
/// </summary>
public readonly ref struct RecordBatchHeader
{
    /// <summary>Size in bytes of the fixed header.</summary>
    public const int Size = 61;

    /// <summary>Bytes before and including the batchLength field; batchLength counts the rest.</summary>
    public const int LogOverhead = 12;

    /// <summary>Offset of the first byte covered by the CRC (the attributes field).</summary>
    public const int CrcCoveredStart = 21;

    /// <summary>Byte positions of header fields, for in-place patching.</summary>
    public const int BaseOffsetPosition = 0;
    /// <summary>Position of batchLength.</summary>
    public const int BatchLengthPosition = 8;
    /// <summary>Position of partitionLeaderEpoch.</summary>
    public const int PartitionLeaderEpochPosition = 12;
    /// <summary>Position of magic.</summary>
    public const int MagicPosition = 16;
    /// <summary>Position of crc.</summary>
    public const int CrcPosition = 17;
    /// <summary>Position of attributes.</summary>
    public const int AttributesPosition = 21;
    /// <summary>Position of lastOffsetDelta.</summary>
    public const int LastOffsetDeltaPosition = 23;
    /// <summary>Position of baseTimestamp.</summary>
    public const int BaseTimestampPosition = 27;
    /// <summary>Position of maxTimestamp.</summary>
    public const int MaxTimestampPosition = 35;
    /// <summary>Position of producerId.</summary>
    public const int ProducerIdPosition = 43;
    /// <summary>Position of producerEpoch.</summary>
    public const int ProducerEpochPosition = 51;
    /// <summary>Position of baseSequence.</summary>
    public const int BaseSequencePosition = 53;
    /// <summary>Position of recordCount.</summary>
    public const int RecordCountPosition = 57;

    private readonly ReadOnlySpan<byte> _bytes;

    /// <summary>Wraps the first <see cref="Size"/> bytes of <paramref name="bytes"/>; the caller checks the length.</summary>
    public RecordBatchHeader(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Size)
        {
            throw new ArgumentException($"A record batch header needs {Size} bytes, got {bytes.Length}.", nameof(bytes));
        }

        _bytes = bytes;
    }

    /// <summary>Offset of the first record.</summary>
    public long BaseOffset => BinaryPrimitives.ReadInt64BigEndian(_bytes[BaseOffsetPosition..]);

    /// <summary>Length of the batch after the batchLength field.</summary>
    public int BatchLength => BinaryPrimitives.ReadInt32BigEndian(_bytes[BatchLengthPosition..]);

    /// <summary>Total size of the batch on the wire and on disk.</summary>
    public int TotalSize => BatchLength + LogOverhead;

    /// <summary>Leader epoch stamped by the partition leader.</summary>
    public int PartitionLeaderEpoch => BinaryPrimitives.ReadInt32BigEndian(_bytes[PartitionLeaderEpochPosition..]);

    /// <summary>Message format version; 2 for RecordBatch.</summary>
    public sbyte Magic => (sbyte)_bytes[MagicPosition];

    /// <summary>CRC-32C of bytes from attributes to the end of the batch.</summary>
    public uint Crc => BinaryPrimitives.ReadUInt32BigEndian(_bytes[CrcPosition..]);

    /// <summary>Attribute bits: compression (0-2), timestamp type (3), transactional (4), control (5).</summary>
    public short Attributes => BinaryPrimitives.ReadInt16BigEndian(_bytes[AttributesPosition..]);

    /// <summary>Compression codec (attributes bits 0-2).</summary>
    public CompressionType Compression => (CompressionType)(Attributes & 0x07);

    /// <summary>True when timestamps are LogAppendTime (attributes bit 3).</summary>
    public bool IsLogAppendTime => (Attributes & 0x08) != 0;

    /// <summary>True for a transactional batch (attributes bit 4).</summary>
    public bool IsTransactional => (Attributes & 0x10) != 0;

    /// <summary>True for a control batch (attributes bit 5).</summary>
    public bool IsControl => (Attributes & 0x20) != 0;

    /// <summary>
    /// True when the base timestamp holds the batch's delete horizon (attributes bit 6, KIP-534): set by log compaction
    /// on a batch that kept tombstones; they may be removed once the horizon has passed.
    /// </summary>
    public bool HasDeleteHorizon => (Attributes & DeleteHorizonFlag) != 0;

    /// <summary>The attribute bit of <see cref="HasDeleteHorizon"/>.</summary>
    public const short DeleteHorizonFlag = 0x40;

    /// <summary>Offset delta of the last record.</summary>
    public int LastOffsetDelta => BinaryPrimitives.ReadInt32BigEndian(_bytes[LastOffsetDeltaPosition..]);

    /// <summary>Offset of the last record.</summary>
    public long LastOffset => BaseOffset + LastOffsetDelta;

    /// <summary>Timestamp of the first record.</summary>
    public long BaseTimestamp => BinaryPrimitives.ReadInt64BigEndian(_bytes[BaseTimestampPosition..]);

    /// <summary>Largest timestamp in the batch.</summary>
    public long MaxTimestamp => BinaryPrimitives.ReadInt64BigEndian(_bytes[MaxTimestampPosition..]);

    /// <summary>Producer id, or -1.</summary>
    public long ProducerId => BinaryPrimitives.ReadInt64BigEndian(_bytes[ProducerIdPosition..]);

    /// <summary>Producer epoch, or -1.</summary>
    public short ProducerEpoch => BinaryPrimitives.ReadInt16BigEndian(_bytes[ProducerEpochPosition..]);

    /// <summary>Sequence of the first record, or -1.</summary>
    public int BaseSequence => BinaryPrimitives.ReadInt32BigEndian(_bytes[BaseSequencePosition..]);

    /// <summary>Number of records in the batch.</summary>
    public int RecordCount => BinaryPrimitives.ReadInt32BigEndian(_bytes[RecordCountPosition..]);

    /// <summary>True when <paramref name="batch"/> holds at least a header and the CRC matches its bytes.</summary>
    public static bool IsCrcValid(ReadOnlySpan<byte> batch) =>
        batch.Length >= Size && BinaryPrimitives.ReadUInt32BigEndian(batch[CrcPosition..]) == Crc32C.Compute(batch[CrcCoveredStart..]);

    /// <summary>Writes baseOffset in place; outside the CRC, so the batch stays valid (the broker assigns offsets).</summary>
    public static void WriteBaseOffset(Span<byte> batch, long baseOffset) =>
        BinaryPrimitives.WriteInt64BigEndian(batch[BaseOffsetPosition..], baseOffset);

    /// <summary>Writes partitionLeaderEpoch in place; outside the CRC, so the batch stays valid.</summary>
    public static void WritePartitionLeaderEpoch(Span<byte> batch, int partitionLeaderEpoch) =>
        BinaryPrimitives.WriteInt32BigEndian(batch[PartitionLeaderEpochPosition..], partitionLeaderEpoch);

    /// <summary>Recomputes and writes the CRC over bytes from attributes to the end of <paramref name="batch"/>.</summary>
    public static void WriteCrc(Span<byte> batch) =>
        BinaryPrimitives.WriteUInt32BigEndian(batch[CrcPosition..], Crc32C.Compute(batch[CrcCoveredStart..]));
}
