using System.Buffers.Binary;
using Levee.Protocol.Records;

namespace Levee.Protocol.Tests.Records;

public class RecordBatchValidatorTests
{
    private static BatchValidationResult Validate(byte[] records, ValidationOptions? options = null) =>
        RecordBatchValidator.Validate(records, options ?? TestBatches.Options);

    [Fact]
    public void Validate_WithWrongCrc_ReturnsCorruptMessage()
    {
        var batch = TestBatches.Build(CompressionType.None);
        batch[^1] ^= 0x01;
        var result = Validate(batch);
        Assert.Equal(ErrorCode.CorruptMessage, result.ErrorCode);
        Assert.Contains("crc", result.ErrorMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Validate_WithTruncatedBatch_ReturnsCorruptMessage()
    {
        var batch = TestBatches.Build(CompressionType.Gzip);
        foreach (var length in new[] { 5, 11, 12, 40, 60, batch.Length - 1 })
        {
            Assert.Equal(ErrorCode.CorruptMessage, Validate(batch[..length]).ErrorCode);
        }
    }

    [Fact]
    public void Validate_WithTrailingGarbage_ReturnsCorruptMessage()
    {
        var batch = TestBatches.Build(CompressionType.None);
        Assert.Equal(ErrorCode.CorruptMessage, Validate([.. batch, 1, 2, 3]).ErrorCode);
    }

    [Fact]
    public void Validate_WithEmptyRecords_ReturnsInvalidRecord() =>
        Assert.Equal(ErrorCode.InvalidRecord, Validate([]).ErrorCode);

    [Fact]
    public void Validate_WithTwoBatches_ReturnsInvalidRecordAsKafkaDoes()
    {
        var batch = TestBatches.Build(CompressionType.None);
        Assert.Equal(ErrorCode.InvalidRecord, Validate([.. batch, .. batch]).ErrorCode);
    }

    [Fact]
    public void Validate_WithTwoBatchesWhenAllowed_CountsBoth()
    {
        var batch = TestBatches.Build(CompressionType.Lz4);
        var result = Validate([.. batch, .. batch], TestBatches.Options with { RequireSingleBatch = false });
        Assert.True(result.IsValid, result.ErrorMessage);
        Assert.Equal(2, result.BatchCount);
        Assert.Equal(10, result.RecordCount);
    }

    [Fact]
    public void Validate_WithLastOffsetDeltaMismatch_ReturnsInvalidRecord()
    {
        var batch = TestBatches.Build(CompressionType.None);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.LastOffsetDeltaPosition), 9);
        TestBatches.Recrc(batch);
        Assert.Equal(ErrorCode.InvalidRecord, Validate(batch).ErrorCode);
    }

    [Fact]
    public void Validate_WithRecordCountBeyondRecords_ReturnsInvalidRecord()
    {
        var batch = TestBatches.Build(CompressionType.Snappy);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.LastOffsetDeltaPosition), 5);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.RecordCountPosition), 6);
        TestBatches.Recrc(batch);
        var result = Validate(batch);
        Assert.Equal(ErrorCode.InvalidRecord, result.ErrorCode);
        Assert.Equal(5, result.RecordIndex);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public void Validate_WithUnknownCodec_ReturnsUnsupportedCompressionType(int codec)
    {
        var batch = TestBatches.Build(CompressionType.None);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatchHeader.AttributesPosition), (short)codec);
        TestBatches.Recrc(batch);
        Assert.Equal(ErrorCode.UnsupportedCompressionType, Validate(batch).ErrorCode);
    }

    [Fact]
    public void Validate_WithZstdWhenNotAllowed_ReturnsUnsupportedCompressionType()
    {
        var batch = TestBatches.Build(CompressionType.Zstd);
        Assert.Equal(ErrorCode.UnsupportedCompressionType, Validate(batch, TestBatches.Options with { AllowZstd = false }).ErrorCode);
    }

    [Fact]
    public void Validate_WithOldMagic_ReturnsInvalidRecord()
    {
        var batch = TestBatches.Build(CompressionType.None);
        batch[RecordBatchHeader.MagicPosition] = 1;
        Assert.Equal(ErrorCode.InvalidRecord, Validate(batch).ErrorCode);
    }

    [Fact]
    public void Validate_BatchLargerThanMaxMessageBytes_ReturnsMessageTooLarge()
    {
        var batch = TestBatches.Build(CompressionType.None);
        Assert.Equal(ErrorCode.MessageTooLarge, Validate(batch, TestBatches.Options with { MaxMessageBytes = batch.Length - 1 }).ErrorCode);
        Assert.True(Validate(batch, TestBatches.Options with { MaxMessageBytes = batch.Length }).IsValid);
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public void Validate_DecompressionBomb_ReturnsMessageTooLargeWithinBound(CompressionType codec)
    {
        var bigValue = new byte[8 * 1024 * 1024];
        var batch = TestBatches.Build(codec, [new RecordData(null, bigValue, TestBatches.Now)]);
        Assert.True(batch.Length < 1024 * 1024);
        var result = Validate(batch, TestBatches.Options with { MaxUncompressedBytes = 1024 * 1024 });
        Assert.Equal(ErrorCode.MessageTooLarge, result.ErrorCode);
    }

    [Fact]
    public void Validate_WithNonZeroBaseOffsetFromClient_ReturnsInvalidRecord()
    {
        var batch = TestBatches.Build(CompressionType.None);
        RecordBatchHeader.WriteBaseOffset(batch, 5);
        Assert.Equal(ErrorCode.InvalidRecord, Validate(batch).ErrorCode);
        Assert.True(Validate(batch, TestBatches.Options with { FromClient = false }).IsValid);
    }

    [Fact]
    public void Validate_ControlBatchFromClient_ReturnsInvalidRecord()
    {
        var batch = TestBatches.Build(CompressionType.None, options: new RecordBatchOptions { IsControl = true });
        Assert.Equal(ErrorCode.InvalidRecord, Validate(batch).ErrorCode);
    }

    [Fact]
    public void Validate_WrongOffsetDelta_ReturnsInvalidRecordWithIndex()
    {
        var batch = TestBatches.Build(CompressionType.None, TestBatches.SampleRecords(3));

        // Record 0 starts at 61: length varint (1 byte here), attributes, timestampDelta 0 (1 byte), offsetDelta.
        Assert.Equal(0, batch[RecordBatchHeader.Size + 3]);
        batch[RecordBatchHeader.Size + 3] = 2; // zig-zag 1
        TestBatches.Recrc(batch);
        var result = Validate(batch);
        Assert.Equal(ErrorCode.InvalidRecord, result.ErrorCode);
        Assert.Equal(0, result.RecordIndex);
    }

    [Fact]
    public void Validate_NullKeyOnCompactedTopic_ReturnsInvalidRecord()
    {
        var batch = TestBatches.Build(CompressionType.None);
        var result = Validate(batch, TestBatches.Options with { RequireKeys = true });
        Assert.Equal(ErrorCode.InvalidRecord, result.ErrorCode);
        Assert.Equal(1, result.RecordIndex);
    }

    [Fact]
    public void Validate_TimestampTooFarInFuture_ReturnsInvalidTimestamp()
    {
        var records = new[] { new RecordData(null, new byte[] { 1 }, TestBatches.Now + 7_200_000) };
        var batch = TestBatches.Build(CompressionType.Zstd, records);
        var options = TestBatches.Options with { MaxTimestampAfterMs = 3_600_000 };
        Assert.Equal(ErrorCode.InvalidTimestamp, Validate(batch, options).ErrorCode);
        Assert.True(Validate(batch, options with { TimestampType = TimestampType.LogAppendTime }).IsValid);
    }

    [Fact]
    public void Validate_TimestampTooOld_ReturnsInvalidTimestamp()
    {
        var records = new[] { new RecordData(null, new byte[] { 1 }, TestBatches.Now - 10_000) };
        var batch = TestBatches.Build(CompressionType.None, records);
        Assert.Equal(ErrorCode.InvalidTimestamp, Validate(batch, TestBatches.Options with { MaxTimestampBeforeMs = 5_000 }).ErrorCode);
        Assert.True(Validate(batch, TestBatches.Options with { MaxTimestampBeforeMs = 50_000 }).IsValid);
    }

    [Fact]
    public void Validate_LogAppendTimeBatchFromProducer_ReturnsInvalidTimestamp()
    {
        var batch = TestBatches.Build(CompressionType.None, options: new RecordBatchOptions { TimestampType = TimestampType.LogAppendTime, LogAppendTime = TestBatches.Now });
        Assert.Equal(ErrorCode.InvalidTimestamp, Validate(batch).ErrorCode);
    }
}
