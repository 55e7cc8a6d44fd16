using System.Text;
using Levee.Protocol.Records;

namespace Levee.Protocol.Tests.Records;

public class RecordBatchRoundTripTests
{
    public static TheoryData<CompressionType> Codecs =>
        [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

    [Theory]
    [MemberData(nameof(Codecs))]
    public void BuildValidateRead_RoundTripsKeysValuesNullsAndHeaders(CompressionType codec)
    {
        var records = TestBatches.SampleRecords(7);
        var batch = TestBatches.Build(codec, records, new RecordBatchOptions { ProducerId = 42, ProducerEpoch = 1, BaseSequence = 10 });

        var result = RecordBatchValidator.Validate(batch, TestBatches.Options);
        Assert.True(result.IsValid, result.ErrorMessage);
        Assert.Equal(1, result.BatchCount);
        Assert.Equal(7, result.RecordCount);

        var header = new RecordBatchHeader(batch);
        Assert.Equal(codec, header.Compression);
        Assert.Equal(42, header.ProducerId);
        Assert.Equal(10, header.BaseSequence);
        Assert.Equal(6, header.LastOffsetDelta);
        Assert.Equal(TestBatches.Now + 6, header.MaxTimestamp);

        using var reader = new RecordReader(batch);
        var i = 0;
        while (reader.TryReadNext(out var record))
        {
            var expected = records[i];
            Assert.Equal(i, record.OffsetDelta);
            Assert.Equal(expected.Timestamp, record.Timestamp);
            Assert.Equal(expected.Key is null, record.KeyIsNull);
            Assert.Equal(expected.Value is null, record.ValueIsNull);
            Assert.True(record.Key.SequenceEqual(expected.Key is { } k ? k.Span : default));
            Assert.True(record.Value.SequenceEqual(expected.Value is { } v ? v.Span : default));
            var headers = new List<(string, string?)>();
            foreach (var h in record.Headers)
            {
                headers.Add((Encoding.UTF8.GetString(h.Key), h.ValueIsNull ? null : Encoding.UTF8.GetString(h.Value)));
            }

            var expectedHeaders = expected.Headers?.Select(h => (h.Key, h.Value is { } v ? Encoding.UTF8.GetString(v.Span) : null)).ToList() ?? [];
            Assert.Equal(expectedHeaders, headers);
            i++;
        }

        Assert.Equal(records.Length, i);
        Assert.Contains(records, r => r.Key is null);
        Assert.Contains(records, r => r.Value is null);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Read_WithCallerBuffer_ReusesItAcrossBatches(CompressionType codec)
    {
        using var buffer = new PooledBufferWriter();
        for (var n = 1; n <= 3; n++)
        {
            var batch = TestBatches.Build(codec, TestBatches.SampleRecords(n));
            using var reader = new RecordReader(batch, buffer);
            var count = 0;
            while (reader.TryReadNext(out _))
            {
                count++;
            }

            Assert.Equal(n, count);
        }
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void SetLogAppendTime_KeepsBatchValidAndTimestampsReadAsAppendTime(CompressionType codec)
    {
        var batch = TestBatches.Build(codec);
        RecordBatchRewriter.SetLogAppendTime(batch, 123_456);

        var header = new RecordBatchHeader(batch);
        Assert.True(header.IsLogAppendTime);
        Assert.Equal(123_456, header.MaxTimestamp);
        Assert.True(RecordBatchHeader.IsCrcValid(batch));
        Assert.True(RecordBatchValidator.Validate(batch, TestBatches.Options with { TimestampType = TimestampType.LogAppendTime }).IsValid);

        using var reader = new RecordReader(batch);
        while (reader.TryReadNext(out var record))
        {
            Assert.Equal(123_456, record.Timestamp);
        }
    }

    [Fact]
    public void WriteBaseOffsetAndLeaderEpoch_InPlace_KeepCrcValid()
    {
        var batch = TestBatches.Build(CompressionType.None);
        RecordBatchHeader.WriteBaseOffset(batch, 1000);
        RecordBatchHeader.WritePartitionLeaderEpoch(batch, 7);
        var header = new RecordBatchHeader(batch);
        Assert.Equal(1000, header.BaseOffset);
        Assert.Equal(7, header.PartitionLeaderEpoch);
        Assert.True(RecordBatchHeader.IsCrcValid(batch));

        using var reader = new RecordReader(batch);
        Assert.True(reader.TryReadNext(out var first));
        Assert.Equal(1000, first.Offset);
    }

    [Fact]
    public void Build_EmptyValueAndEmptyKey_AreNotNull()
    {
        var batch = TestBatches.Build(CompressionType.None, [new RecordData(Array.Empty<byte>(), Array.Empty<byte>(), TestBatches.Now)]);
        using var reader = new RecordReader(batch);
        Assert.True(reader.TryReadNext(out var record));
        Assert.False(record.KeyIsNull);
        Assert.False(record.ValueIsNull);
        Assert.Equal(0, record.Key.Length);
    }
}
