using System.Buffers.Binary;

namespace Levee.Protocol.Records;

/// <summary>
/// What the broker knows when it validates a produced partition's records: the topic's limits and timestamp
/// policy. Defaults are Kafka's broker defaults and client-origin rules.
/// </summary>
public readonly record struct ValidationOptions
{
    /// <summary>Creates options with Kafka's defaults.</summary>
    public ValidationOptions()
    {
    }

    /// <summary>Largest batch accepted, header included (max.message.bytes; Kafka's default 1048588).</summary>
    public int MaxMessageBytes { get; init; } = 1048588;

    /// <summary>
    /// Largest decompressed records section accepted. Kafka has no such bound; we need one so that a small
    /// compressed batch cannot demand unbounded memory. Beyond it the batch is refused with MESSAGE_TOO_LARGE.
    /// </summary>
    public int MaxUncompressedBytes { get; init; } = RecordReader.DefaultMaxUncompressedBytes;

    /// <summary>The topic's message.timestamp.type.</summary>
    public TimestampType TimestampType { get; init; } = TimestampType.CreateTime;

    /// <summary>
    /// message.timestamp.before.max.ms (KIP-937): how far in the past a CreateTime timestamp may be.
    /// <see cref="long.MaxValue"/> disables the check. The legacy message.timestamp.difference.max.ms sets
    /// both this and <see cref="MaxTimestampAfterMs"/>.
    /// </summary>
    public long MaxTimestampBeforeMs { get; init; } = long.MaxValue;

    /// <summary>
    /// message.timestamp.after.max.ms (KIP-937; Kafka 4.0's default is one hour): how far in the future a
    /// CreateTime timestamp may be. <see cref="long.MaxValue"/> disables the check.
    /// </summary>
    public long MaxTimestampAfterMs { get; init; } = long.MaxValue;

    /// <summary>The broker's clock for the timestamp checks, epoch ms; null reads the system clock once per call.</summary>
    public long? NowMs { get; init; }

    /// <summary>
    /// Apply Kafka's rules for batches from clients (AppendOrigin.CLIENT): baseOffset 0, recordCount &gt; 0,
    /// no control batches, a base sequence when a producer id is set.
    /// </summary>
    public bool FromClient { get; init; } = true;

    /// <summary>Produce v3+ allows exactly one batch per partition (Kafka's ProduceRequest.validateRecords).</summary>
    public bool RequireSingleBatch { get; init; } = true;

    /// <summary>Refuse records without a key (compacted topics).</summary>
    public bool RequireKeys { get; init; }

    /// <summary>Accept zstd; Kafka refuses it before Produce v7 with UNSUPPORTED_COMPRESSION_TYPE.</summary>
    public bool AllowZstd { get; init; } = true;
}

/// <summary>Outcome of <see cref="RecordBatchValidator.Validate"/>.</summary>
/// <param name="ErrorCode">None when every batch is valid; otherwise the partition's error.</param>
/// <param name="ErrorMessage">Kafka-style error message (the produce response's error_message); null on success.</param>
/// <param name="BatchCount">Batches checked (all of them on success).</param>
/// <param name="RecordCount">Records in valid batches (all of them on success).</param>
/// <param name="BatchIndex">Index of the failing batch, or -1.</param>
/// <param name="RecordIndex">Index within its batch of the failing record (the produce response's batch_index), or -1.</param>
public readonly record struct BatchValidationResult(
    ErrorCode ErrorCode,
    string? ErrorMessage,
    int BatchCount,
    long RecordCount,
    int BatchIndex = -1,
    int RecordIndex = -1)
{
    /// <summary>True when the records may be appended.</summary>
    public bool IsValid => ErrorCode == ErrorCode.None;
}

/// <summary>
/// Validates the records blob of one partition of a Produce request, in place, the way Kafka's broker does
/// (ProduceRequest.validateRecords, UnifiedLog.analyzeAndValidateRecords, LogValidator): sizes, magic, CRC-32C,
/// codec, offsets and count, every record's framing, and timestamps. It allocates nothing per record, never
/// throws, and answers the error code Kafka would.
/// </summary>
public static class RecordBatchValidator
{
    [ThreadStatic]
    private static PooledBufferWriter? t_scratch;

    /// <summary>Validates <paramref name="records"/>; see <see cref="BatchValidationResult"/>.</summary>
    public static BatchValidationResult Validate(ReadOnlySpan<byte> records, in ValidationOptions options)
    {
        try
        {
            return ValidateCore(records, options);
        }
#pragma warning disable CA1031 // The contract is "never throws": any surprise is reported as corrupt input.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return new BatchValidationResult(ErrorCode.CorruptMessage, $"The record batch could not be validated: {e.Message}", 0, 0);
        }
    }

    private static BatchValidationResult ValidateCore(ReadOnlySpan<byte> records, in ValidationOptions options)
    {
        var now = options.NowMs ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var position = 0;
        var batchCount = 0;
        long recordCount = 0;
        while (position < records.Length)
        {
            var remaining = records[position..];
            if (remaining.Length < RecordBatchHeader.LogOverhead)
            {
                return Fail(ErrorCode.CorruptMessage, $"{remaining.Length} trailing bytes after the last record batch are not a batch.", batchCount, recordCount, batchCount);
            }

            var batchLength = BinaryPrimitives.ReadInt32BigEndian(remaining[RecordBatchHeader.BatchLengthPosition..]);
            if (batchLength < 0 || batchLength > remaining.Length - RecordBatchHeader.LogOverhead)
            {
                return Fail(ErrorCode.CorruptMessage, $"The record batch declares {batchLength} bytes after its length field but only {remaining.Length - RecordBatchHeader.LogOverhead} are present.", batchCount, recordCount, batchCount);
            }

            var batch = remaining[..(RecordBatchHeader.LogOverhead + batchLength)];
            if (batch.Length > RecordBatchHeader.MagicPosition && batch[RecordBatchHeader.MagicPosition] != 2)
            {
                // Kafka 4.0 takes only message format v2 (Produce v3+); ProduceRequest.validateRecords says INVALID_RECORD.
                return Fail(ErrorCode.InvalidRecord, $"Produce requests are only allowed to contain record batches with magic version 2, not {(sbyte)batch[RecordBatchHeader.MagicPosition]}.", batchCount, recordCount, batchCount);
            }

            if (batch.Length < RecordBatchHeader.Size)
            {
                return Fail(ErrorCode.CorruptMessage, $"Record batch is only {batch.Length} bytes; a v2 batch header alone takes {RecordBatchHeader.Size}.", batchCount, recordCount, batchCount);
            }

            if (batchCount == 1 && options.RequireSingleBatch)
            {
                return Fail(ErrorCode.InvalidRecord, "Produce requests are only allowed to contain exactly one record batch per partition.", batchCount, recordCount, batchCount);
            }

            var result = ValidateBatch(batch, options, now, batchCount, recordCount);
            if (result.ErrorCode != ErrorCode.None)
            {
                return result;
            }

            recordCount += result.RecordCount;
            batchCount++;
            position += batch.Length;
        }

        if (batchCount == 0)
        {
            return Fail(ErrorCode.InvalidRecord, "Produce requests must have at least one record batch per partition.", 0, 0, -1);
        }

        return new BatchValidationResult(ErrorCode.None, null, batchCount, recordCount);
    }

    /// <summary>Validates one whole batch; on success RecordCount is this batch's count.</summary>
    private static BatchValidationResult ValidateBatch(ReadOnlySpan<byte> batch, in ValidationOptions options, long now, int batchIndex, long recordsBefore)
    {
        var header = new RecordBatchHeader(batch);
        var maxMessageBytes = options.MaxMessageBytes > 0 ? options.MaxMessageBytes : int.MaxValue;
        if (batch.Length > maxMessageBytes)
        {
            // UnifiedLog: RecordTooLargeException, which Kafka's Errors map to MESSAGE_TOO_LARGE.
            return Fail(ErrorCode.MessageTooLarge, $"The record batch size is {batch.Length} bytes which exceeds the maximum configured value of {maxMessageBytes}.", batchIndex, recordsBefore, batchIndex);
        }

        var crc = Crc32C.Compute(batch[RecordBatchHeader.CrcCoveredStart..]);
        if (crc != header.Crc)
        {
            return Fail(ErrorCode.CorruptMessage, $"Record batch is corrupt (stored crc = {header.Crc}, computed crc = {crc}).", batchIndex, recordsBefore, batchIndex);
        }

        var codecId = header.Attributes & 0x07;
        if (codecId > (int)CompressionType.Zstd)
        {
            return Fail(ErrorCode.UnsupportedCompressionType, $"Unknown compression codec id {codecId}.", batchIndex, recordsBefore, batchIndex);
        }

        if (header.Compression == CompressionType.Zstd && !options.AllowZstd)
        {
            return Fail(ErrorCode.UnsupportedCompressionType, "Produce requests before version 7 are not allowed to use ZStandard compression.", batchIndex, recordsBefore, batchIndex);
        }

        var count = header.RecordCount;
        if (options.FromClient)
        {
            // LogValidator.validateBatch and UnifiedLog for AppendOrigin.CLIENT.
            if (header.BaseOffset != 0)
            {
                return Fail(ErrorCode.InvalidRecord, $"The baseOffset of the record batch should be 0, but it is {header.BaseOffset}.", batchIndex, recordsBefore, batchIndex);
            }

            if (header.LastOffsetDelta < 0)
            {
                return Fail(ErrorCode.InvalidRecord, "Batch has an invalid offset range.", batchIndex, recordsBefore, batchIndex);
            }

            if (count <= 0)
            {
                return Fail(ErrorCode.InvalidRecord, $"Invalid reported count for record batch: {count}.", batchIndex, recordsBefore, batchIndex);
            }

            if (header.IsControl)
            {
                return Fail(ErrorCode.InvalidRecord, "Clients are not allowed to write control records.", batchIndex, recordsBefore, batchIndex);
            }

            if (header.ProducerId >= 0 && header.BaseSequence < 0)
            {
                return Fail(ErrorCode.InvalidRecord, $"Invalid sequence number {header.BaseSequence} in record batch with producerId {header.ProducerId}.", batchIndex, recordsBefore, batchIndex);
            }
        }

        if (count < 0)
        {
            return Fail(ErrorCode.InvalidRecord, $"Invalid reported count for record batch: {count}.", batchIndex, recordsBefore, batchIndex);
        }

        if ((long)header.LastOffsetDelta + 1 != count && !(count == 0 && !options.FromClient))
        {
            return Fail(ErrorCode.InvalidRecord, $"Inconsistent batch offset range (lastOffsetDelta {header.LastOffsetDelta}) and count of records ({count}).", batchIndex, recordsBefore, batchIndex);
        }

        var checkTimestamps = options.TimestampType == TimestampType.CreateTime;
        if (checkTimestamps && header.IsLogAppendTime && options.FromClient)
        {
            return Fail(ErrorCode.InvalidTimestamp, "Invalid timestamp type in record batch: producers must not set the timestamp type to LogAppendTime.", batchIndex, recordsBefore, batchIndex);
        }

        checkTimestamps &= options.MaxTimestampBeforeMs != long.MaxValue || options.MaxTimestampAfterMs != long.MaxValue;

        var body = batch[RecordBatchHeader.Size..];
        if (header.Compression == CompressionType.None)
        {
            return WalkRecords(body, header, options, checkTimestamps, now, batchIndex, recordsBefore);
        }

        var scratch = t_scratch ??= new PooledBufferWriter();
        try
        {
            scratch.Clear();
            var maxUncompressed = options.MaxUncompressedBytes > 0 ? options.MaxUncompressedBytes : RecordReader.DefaultMaxUncompressedBytes;
            var status = CompressionCodecs.TryDecompress(header.Compression, body, scratch, maxUncompressed, out _);
            switch (status)
            {
                case DecompressionStatus.Ok:
                    return WalkRecords(scratch.WrittenSpan, header, options, checkTimestamps, now, batchIndex, recordsBefore);
                case DecompressionStatus.TooLarge:
                    return Fail(ErrorCode.MessageTooLarge, $"The record batch decompresses to more than {maxUncompressed} bytes.", batchIndex, recordsBefore, batchIndex);
                default:
                    return Fail(ErrorCode.CorruptMessage, $"The record batch's {header.Compression} data is corrupt.", batchIndex, recordsBefore, batchIndex);
            }
        }
        finally
        {
            // Give the (possibly large) array back rather than pinning it to this thread.
            scratch.Reset();
        }
    }

    private static BatchValidationResult WalkRecords(
        ReadOnlySpan<byte> data,
        RecordBatchHeader header,
        in ValidationOptions options,
        bool checkTimestamps,
        long now,
        int batchIndex,
        long recordsBefore)
    {
        var count = header.RecordCount;
        var baseOffset = header.BaseOffset;
        var baseTimestamp = header.BaseTimestamp;
        var position = 0;
        for (var i = 0; i < count; i++)
        {
            if (position >= data.Length)
            {
                return Fail(ErrorCode.InvalidRecord, $"Incorrect declared batch size: the batch ends after {i} of {count} records.", batchIndex, recordsBefore, batchIndex, i);
            }

            var error = RecordParser.TryParse(data, ref position, baseOffset, baseTimestamp, long.MinValue, out var record);
            if (error != RecordParseError.None)
            {
                return Fail(ErrorCode.InvalidRecord, $"Record {i} is invalid: {RecordParser.Describe(error)}.", batchIndex, recordsBefore, batchIndex, i);
            }

            if (record.OffsetDelta != i)
            {
                return Fail(ErrorCode.InvalidRecord, $"Record {i} has offset delta {record.OffsetDelta}; offset deltas must be consecutive from 0.", batchIndex, recordsBefore, batchIndex, i);
            }

            if (options.RequireKeys && record.KeyIsNull)
            {
                return Fail(ErrorCode.InvalidRecord, "Compacted topic cannot accept message without key.", batchIndex, recordsBefore, batchIndex, i);
            }

            if (checkTimestamps && record.Timestamp != -1)
            {
                var timestamp = record.Timestamp;
                // Int128 so that hostile timestamps near long.MinValue/MaxValue cannot wrap around the check.
                if ((options.MaxTimestampBeforeMs != long.MaxValue && (Int128)now - timestamp > options.MaxTimestampBeforeMs)
                    || (options.MaxTimestampAfterMs != long.MaxValue && (Int128)timestamp - now > options.MaxTimestampAfterMs))
                {
                    return Fail(ErrorCode.InvalidTimestamp, $"Timestamp {timestamp} of record {i} is out of range; the broker's time is {now}.", batchIndex, recordsBefore, batchIndex, i);
                }
            }
        }

        if (position != data.Length)
        {
            return Fail(ErrorCode.InvalidRecord, $"Incorrect declared batch size: {data.Length - position} bytes remain after {count} records.", batchIndex, recordsBefore, batchIndex);
        }

        return new BatchValidationResult(ErrorCode.None, null, 1, count);
    }

    private static BatchValidationResult Fail(ErrorCode code, string message, int batchCount, long recordCount, int batchIndex, int recordIndex = -1) =>
        new(code, message, batchCount, recordCount, batchIndex, recordIndex);
}
