using System.Buffers;
using System.Text;
using CsCheck;
using Levee.Protocol.Records;

namespace Levee.Protocol.Tests.Records;

public class RecordBatchRecompressTests
{
    private static readonly Gen<CompressionType> Codec = Gen.Int[(int)CompressionType.None, (int)CompressionType.Zstd].Select(c => (CompressionType)c);

    private static readonly Gen<byte[]?> Bytes = Gen.Frequency(
        (1, Gen.Const<byte[]?>((byte[]?)null)),
        (4, Gen.Byte.Array[0, 300].Select(b => (byte[]?)b)));

    private static readonly Gen<RecordHeaderData> Header =
        Gen.Select(Gen.String[Gen.Char.AlphaNumeric, 1, 12], Bytes, (k, v) => new RecordHeaderData(k, v));

    // Timestamps around a base, later records sometimes earlier than the first: deltas may be negative.
    private static readonly Gen<RecordData[]> Records =
        Gen.Select(Bytes, Bytes, Gen.Long[-5_000, 5_000], Header.Array[0, 3], (k, v, t, h) => new RecordData(k, v, TestBatches.Now + t, h)).Array[1, 40];

    private static readonly Gen<RecordBatchOptions> Producer = Gen.Frequency(
        (1, Gen.Const(new RecordBatchOptions())),
        (2, Gen.Select(Gen.Long[0, 1_000_000], Gen.Short[0, 100], Gen.Int[0, 1_000_000], Gen.Bool, (id, epoch, sequence, transactional) =>
            new RecordBatchOptions { ProducerId = id, ProducerEpoch = epoch, BaseSequence = sequence, IsTransactional = transactional })));

    // Kafka's level ranges (KIP-390), gzip's default -1 included; zstd's negative levels down to a few, not -131072.
    private static Gen<int?> Level(CompressionType codec) => codec switch
    {
        CompressionType.Gzip => Gen.OneOf(Gen.Const(-1), Gen.Int[1, 9]).Select(l => (int?)l),
        CompressionType.Lz4 => Gen.Int[1, 17].Select(l => (int?)l),
        CompressionType.Zstd => Gen.Int[-20, 22].Select(l => (int?)l),
        _ => Gen.Const<int?>((int?)null),
    };

    private static readonly Gen<(CompressionType From, CompressionType To, int? Level)> CodecPair =
        Gen.Select(Codec, Codec).SelectMany(p => Level(p.Item2).Select(l => (p.Item1, p.Item2, l)));

    [Fact]
    public void Recompress_AnyBatchToAnyCodec_DecodesToTheSameRecordsWithTheHeaderAsProduced()
    {
        Gen.Select(Records, Producer, CodecPair).Sample((records, producer, codecs) =>
        {
            var batch = RecordBatchBuilder.BuildToArray(producer with { Compression = codecs.From }, records);
            using var output = new PooledBufferWriter();
            var size = RecordBatchRewriter.Recompress(batch, codecs.To, codecs.Level, output);
            var rewritten = output.WrittenSpan.ToArray();

            Assert.Equal(rewritten.Length, size);
            Assert.True(RecordBatchValidator.Validate(rewritten, TestBatches.Options).IsValid);
            var before = new RecordBatchHeader(batch);
            var after = new RecordBatchHeader(rewritten);
            Assert.Equal(codecs.To, after.Compression);
            Assert.Equal(before.Attributes & ~0x07, after.Attributes & ~0x07);
            Assert.Equal(
                (before.BaseOffset, before.PartitionLeaderEpoch, before.LastOffsetDelta, before.BaseTimestamp, before.MaxTimestamp, before.ProducerId, before.ProducerEpoch, before.BaseSequence, before.RecordCount, before.IsTransactional),
                (after.BaseOffset, after.PartitionLeaderEpoch, after.LastOffsetDelta, after.BaseTimestamp, after.MaxTimestamp, after.ProducerId, after.ProducerEpoch, after.BaseSequence, after.RecordCount, after.IsTransactional));
            Assert.Equal(Read(batch), Read(rewritten));
        }, iter: 2_000);
    }

    [Fact]
    public void Recompress_AppendsAfterWhatTheOutputHolds()
    {
        var batch = TestBatches.Build(CompressionType.Snappy);
        using var output = new PooledBufferWriter();
        output.Write("prefix"u8);

        var size = RecordBatchRewriter.Recompress(batch, CompressionType.Zstd, 3, output);

        Assert.Equal("prefix"u8.ToArray(), output.WrittenSpan[..6].ToArray());
        var rewritten = output.WrittenSpan[6..].ToArray();
        Assert.Equal(size, rewritten.Length);
        Assert.Equal(Read(batch), Read(rewritten));
    }

    [Fact]
    public void Recompress_OfAControlBatch_IsRefused()
    {
        var marker = TestBatches.Build(CompressionType.None, TestBatches.SampleRecords(1), new RecordBatchOptions { IsControl = true, ProducerId = 7, ProducerEpoch = 0 });
        using var output = new PooledBufferWriter();

        Assert.Throws<ArgumentException>(() => RecordBatchRewriter.Recompress(marker, CompressionType.Gzip, null, output));
        Assert.Equal(0, output.WrittenCount);
    }

    [Theory]
    [InlineData(CompressionType.Gzip, 1, 9)]
    [InlineData(CompressionType.Lz4, 9, 12)]
    [InlineData(CompressionType.Zstd, 1, 19)]
    public void Compress_AtAHigherLevel_WritesLessForTheSameInput(CompressionType codec, int low, int high)
    {
        // Text with repeats at many distances, which the stronger levels find and the fast ones miss.
        var random = new Random(42);
        var words = Enumerable.Range(0, 400).Select(_ => new string((char)('a' + random.Next(26)), random.Next(1, 9)) + random.Next(1000)).ToArray();
        var input = Encoding.UTF8.GetBytes(string.Join(' ', Enumerable.Range(0, 40_000).Select(_ => words[random.Next(words.Length)])));
        using var fast = new PooledBufferWriter();
        using var strong = new PooledBufferWriter();

        CompressionCodecs.Compress(codec, input, fast, low);
        CompressionCodecs.Compress(codec, input, strong, high);

        Assert.True(strong.WrittenCount < fast.WrittenCount, $"{codec} level {high} wrote {strong.WrittenCount} bytes, level {low} {fast.WrittenCount}");
        foreach (var compressed in new[] { fast, strong })
        {
            using var plain = new PooledBufferWriter();
            CompressionCodecs.Decompress(codec, compressed.WrittenSpan, plain, input.Length);
            Assert.Equal(input, plain.WrittenSpan.ToArray());
        }
    }

    [Theory]
    [InlineData(CompressionType.Gzip, 10)]
    [InlineData(CompressionType.Lz4, 0)]
    [InlineData(CompressionType.Lz4, 18)]
    [InlineData(CompressionType.Zstd, 23)]
    public void Compress_AtALevelOutsideKafkasRange_IsRefused(CompressionType codec, int level)
    {
        using var output = new PooledBufferWriter();
        Assert.Throws<ArgumentOutOfRangeException>(() => CompressionCodecs.Compress(codec, "abc"u8, output, level));
    }

    private static List<string> Read(byte[] batch)
    {
        var records = new List<string>();
        using var reader = new RecordReader(batch);
        while (reader.TryReadNext(out var record))
        {
            var headers = new List<string>();
            foreach (var header in record.Headers)
            {
                headers.Add($"{Convert.ToHexString(header.Key)}={(header.ValueIsNull ? "null" : Convert.ToHexString(header.Value))}");
            }

            records.Add(string.Join(
                '|',
                record.Offset,
                record.OffsetDelta,
                record.Timestamp,
                record.TimestampDelta,
                record.KeyIsNull ? "null" : Convert.ToHexString(record.Key),
                record.ValueIsNull ? "null" : Convert.ToHexString(record.Value),
                string.Join(',', headers)));
        }

        return records;
    }
}
