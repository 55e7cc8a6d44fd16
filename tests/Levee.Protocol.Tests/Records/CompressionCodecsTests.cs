using System.Buffers.Binary;
using System.IO.Compression;
using Levee.Protocol.Records;
using Snappier;

namespace Levee.Protocol.Tests.Records;

public class CompressionCodecsTests
{
    public static TheoryData<CompressionType> Codecs =>
        [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

    private static byte[] Sample(int length, int seed = 7)
    {
        // Half random, half repetitive: compressible but not trivially.
        var random = new Random(seed);
        var data = new byte[length];
        for (var i = 0; i < length; i++)
        {
            data[i] = i % 64 < 32 ? (byte)random.Next(256) : (byte)(i % 7);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Decompress_OfCompressed_ReturnsOriginal(CompressionType codec)
    {
        foreach (var length in new[] { 0, 1, 100, 65_536, 200_000 })
        {
            var data = Sample(length);
            using var compressed = new PooledBufferWriter();
            CompressionCodecs.Compress(codec, data, compressed);
            using var output = new PooledBufferWriter();
            var written = CompressionCodecs.Decompress(codec, compressed.WrittenSpan, output, length);
            Assert.Equal(length, written);
            Assert.True(output.WrittenSpan.SequenceEqual(data));
        }
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public void TryDecompress_BeyondLimit_ReturnsTooLargeWithoutWritingPastIt(CompressionType codec)
    {
        // 16 MiB of zeros compresses to almost nothing: a decompression bomb against a 1 MiB limit.
        var bomb = new byte[16 * 1024 * 1024];
        using var compressed = new PooledBufferWriter();
        CompressionCodecs.Compress(codec, bomb, compressed);
        Assert.True(compressed.WrittenCount < 1024 * 1024);

        using var output = new PooledBufferWriter(maxCapacity: 2 * 1024 * 1024);
        var status = CompressionCodecs.TryDecompress(codec, compressed.WrittenSpan, output, 1024 * 1024, out _);
        Assert.Equal(DecompressionStatus.TooLarge, status);
        Assert.True(output.WrittenCount <= 1024 * 1024);
    }

    [Fact]
    public void TryDecompress_RawSnappyClaimingHugeLength_ReturnsTooLargeWithoutAllocating()
    {
        // A raw snappy block whose preamble claims ~2 GiB.
        byte[] claim = [0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00];
        using var output = new PooledBufferWriter(maxCapacity: 1024);
        Assert.Equal(DecompressionStatus.TooLarge, CompressionCodecs.TryDecompress(CompressionType.Snappy, claim, output, 1024, out _));
    }

    [Fact]
    public void Compress_Snappy_WritesXerialFramingAsTheJavaClientDoes()
    {
        using var compressed = new PooledBufferWriter();
        CompressionCodecs.Compress(CompressionType.Snappy, Sample(1000), compressed);
        byte[] magic = [0x82, (byte)'S', (byte)'N', (byte)'A', (byte)'P', (byte)'P', (byte)'Y', 0];
        Assert.True(compressed.WrittenSpan[..8].SequenceEqual(magic));
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(compressed.WrittenSpan[8..]));
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(compressed.WrittenSpan[12..]));
    }

    [Fact]
    public void Decompress_RawSnappyAsLibrdkafkaWrites_ReturnsOriginal()
    {
        var data = Sample(5000);
        var raw = Snappy.CompressToArray(data);
        using var output = new PooledBufferWriter();
        Assert.Equal(data.Length, CompressionCodecs.Decompress(CompressionType.Snappy, raw, output, 1 << 20));
        Assert.True(output.WrittenSpan.SequenceEqual(data));
    }

    [Fact]
    public void Decompress_ConcatenatedGzipMembers_ReturnsAllOfThem()
    {
        var a = Sample(300, 1);
        var b = Sample(400, 2);
        using var stream = new MemoryStream();
        foreach (var part in new[] { a, b })
        {
            using var gzip = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true);
            gzip.Write(part);
        }

        using var output = new PooledBufferWriter();
        Assert.Equal(700, CompressionCodecs.Decompress(CompressionType.Gzip, stream.ToArray(), output, 1 << 20));
        Assert.True(output.WrittenSpan.SequenceEqual(a.Concat(b).ToArray()));
    }

    [Fact]
    public void Compress_Lz4_WritesKafkaFrameDescriptor()
    {
        using var compressed = new PooledBufferWriter();
        CompressionCodecs.Compress(CompressionType.Lz4, Sample(100), compressed);
        Assert.Equal(0x184D2204u, BinaryPrimitives.ReadUInt32LittleEndian(compressed.WrittenSpan));
        Assert.Equal(0x60, compressed.WrittenSpan[4]);
        Assert.Equal(0x40, compressed.WrittenSpan[5]);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void TryDecompress_OfGarbage_NeverThrows(CompressionType codec)
    {
        var random = new Random(3);
        for (var i = 0; i < 300; i++)
        {
            var garbage = new byte[random.Next(0, 200)];
            random.NextBytes(garbage);
            using var output = new PooledBufferWriter(maxCapacity: 1 << 20);
            _ = CompressionCodecs.TryDecompress(codec, garbage, output, 1 << 16, out _);
        }
    }

    [Fact]
    public void TryDecompress_UnknownCodec_ReturnsUnsupported()
    {
        using var output = new PooledBufferWriter();
        Assert.Equal(DecompressionStatus.UnsupportedCodec, CompressionCodecs.TryDecompress((CompressionType)5, [1, 2, 3], output, 100, out _));
    }
}
