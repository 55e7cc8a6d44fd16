using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;
using Snappier;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace Levee.Protocol.Records;

/// <summary>Outcome of a bounded decompression.</summary>
public enum DecompressionStatus
{
    /// <summary>Decompressed completely within the limit.</summary>
    Ok,

    /// <summary>The input is not valid data for the codec.</summary>
    Corrupt,

    /// <summary>The output would exceed the allowed number of bytes (a decompression bomb, or just too big).</summary>
    TooLarge,

    /// <summary>The codec id is not one Kafka defines.</summary>
    UnsupportedCodec,
}

/// <summary>
/// Compression codecs of Kafka's record batches, on pooled buffers. Decompression is bounded: it never writes
/// more than the caller's limit and never allocates in proportion to a length the input merely claims.
/// <para>
/// Snappy framing: Kafka's Java producer writes xerial's snappy-java stream framing (magic
/// <c>0x82 'SNAPPY' 0x00</c>, int32 version, int32 compatible version, then blocks of int32 big-endian length +
/// raw snappy), while librdkafka writes one raw snappy block. Java's SnappyInputStream falls back to raw snappy
/// when the magic is absent, and librdkafka recognises the xerial magic, so both clients read both. We read
/// both and write xerial framing, as the Java client does.
/// </para>
/// </summary>
public static class CompressionCodecs
{
    /// <summary>The xerial snappy-java stream header: magic then version 1 and compatible version 1.</summary>
    private static ReadOnlySpan<byte> XerialHeader => [0x82, (byte)'S', (byte)'N', (byte)'A', (byte)'P', (byte)'P', (byte)'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1];

    private const int XerialMagicLength = 8;
    private const int XerialBlockSize = 32 * 1024;
    private const int StreamChunk = 16 * 1024;

    /// <summary>Kafka's default zstd level (compression.zstd.level).</summary>
    private const int ZstdLevel = 3;

    /// <summary>Kafka's default lz4 level (compression.lz4.level), which its producer compresses with lz4's fast compressor.</summary>
    private const int Lz4DefaultLevel = 9;

    // What Kafka's Java producer writes: independent 64 KiB blocks, no checksums beyond the batch CRC. One setting per
    // K4os level (0 fast, 3 to 12 high compression), so that a level costs no allocation per batch.
    private static readonly LZ4EncoderSettings[] Lz4Settings =
        [.. Enumerable.Range(0, (int)LZ4Level.L12_MAX + 1).Select(l => new LZ4EncoderSettings { ChainBlocks = false, BlockSize = 64 * 1024, CompressionLevel = (LZ4Level)l })];

    [ThreadStatic]
    private static Decompressor? t_zstdDecompressor;

    [ThreadStatic]
    private static Compressor? t_zstdCompressor;

    /// <summary>Compresses <paramref name="input"/> with <paramref name="codec"/>, appending to <paramref name="output"/>.</summary>
    /// <param name="codec">The codec.</param>
    /// <param name="input">The bytes to compress.</param>
    /// <param name="output">Receives the compressed bytes.</param>
    /// <param name="level">
    /// Kafka's level for the codec (KIP-390: compression.gzip.level 1-9 or -1 for zlib's default, compression.lz4.level
    /// 1-17, compression.zstd.level -131072 to 22); ignored by snappy and none. Null compresses fast: gzip at level 1,
    /// lz4 with its fast compressor, zstd at 3.
    /// </param>
    /// <exception cref="NotSupportedException">The codec id is not one Kafka defines.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The level is outside the codec's range.</exception>
    public static void Compress(CompressionType codec, ReadOnlySpan<byte> input, IBufferWriter<byte> output, int? level = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        switch (codec)
        {
            case CompressionType.None:
                output.Write(input);
                break;
            case CompressionType.Gzip:
                CompressGzip(input, output, level);
                break;
            case CompressionType.Snappy:
                CompressSnappyXerial(input, output);
                break;
            case CompressionType.Lz4:
                LZ4Frame.Encode(input, output, Lz4SettingsFor(level ?? Lz4DefaultLevel));
                break;
            case CompressionType.Zstd:
                CompressZstd(input, output, level ?? ZstdLevel);
                break;
            default:
                throw new NotSupportedException($"Compression codec {(int)codec} is not supported.");
        }
    }

    /// <summary>
    /// Decompresses <paramref name="input"/>, appending at most <paramref name="maxOutputBytes"/> bytes to
    /// <paramref name="output"/>; returns the number written.
    /// </summary>
    /// <exception cref="InvalidDataException">The input is corrupt, or decompresses to more than the limit.</exception>
    /// <exception cref="NotSupportedException">The codec id is not one Kafka defines.</exception>
    public static int Decompress(CompressionType codec, ReadOnlySpan<byte> input, IBufferWriter<byte> output, int maxOutputBytes)
    {
        var status = TryDecompress(codec, input, output, maxOutputBytes, out var written);
        return status switch
        {
            DecompressionStatus.Ok => written,
            DecompressionStatus.TooLarge => throw new InvalidDataException($"The {codec} data decompresses to more than {maxOutputBytes} bytes."),
            DecompressionStatus.UnsupportedCodec => throw new NotSupportedException($"Compression codec {(int)codec} is not supported."),
            _ => throw new InvalidDataException($"The {codec} data is corrupt."),
        };
    }

    /// <summary>
    /// Decompresses without throwing: appends at most <paramref name="maxOutputBytes"/> bytes to
    /// <paramref name="output"/>. On failure, bytes already appended should be discarded by the caller.
    /// </summary>
    public static DecompressionStatus TryDecompress(CompressionType codec, ReadOnlySpan<byte> input, IBufferWriter<byte> output, int maxOutputBytes, out int written)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfNegative(maxOutputBytes);
        written = 0;
        try
        {
            return codec switch
            {
                CompressionType.None => CopyBounded(input, output, maxOutputBytes, out written),
                CompressionType.Gzip => DecompressGzip(input, output, maxOutputBytes, out written),
                CompressionType.Snappy => DecompressSnappy(input, output, maxOutputBytes, out written),
                CompressionType.Lz4 => DecompressLz4(input, output, maxOutputBytes, out written),
                CompressionType.Zstd => DecompressZstd(input, output, maxOutputBytes, out written),
                _ => DecompressionStatus.UnsupportedCodec,
            };
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ZstdException or ArgumentException or IndexOutOfRangeException or InvalidOperationException)
        {
            // The libraries signal malformed input with exceptions; a bounded writer signals its cap the same way.
            written = 0;
            return DecompressionStatus.Corrupt;
        }
    }

    private static DecompressionStatus CopyBounded(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int max, out int written)
    {
        written = 0;
        if (input.Length > max)
        {
            return DecompressionStatus.TooLarge;
        }

        output.Write(input);
        written = input.Length;
        return DecompressionStatus.Ok;
    }

    private static void CompressGzip(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int? level)
    {
        using var sink = new BufferWriterStream(output);
        using (var gzip = level is { } l
            ? new GZipStream(sink, new ZLibCompressionOptions { CompressionLevel = l }, leaveOpen: true)
            : new GZipStream(sink, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(input);
        }
    }

    // Kafka's lz4 levels are lz4-java's: its default level compresses with the fast compressor, any other with the high
    // compression one at that level, which lz4 caps at 12. K4os has no high compression below 3: levels 1 and 2 are fast.
    private static LZ4EncoderSettings Lz4SettingsFor(int level)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, 17);
        return Lz4Settings[level == Lz4DefaultLevel || level < (int)LZ4Level.L03_HC ? (int)LZ4Level.L00_FAST : Math.Min(level, (int)LZ4Level.L12_MAX)];
    }

    private static DecompressionStatus DecompressGzip(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int max, out int written) =>
        DecompressStream(input, output, max, out written, source => new GZipStream(source, CompressionMode.Decompress));

    // Kafka's LZ4 (magic 2) is the standard LZ4 frame format, which K4os.Compression.LZ4.Streams reads in
    // every variant (linked or independent blocks, block and content checksums, content size).
    private static DecompressionStatus DecompressLz4(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int max, out int written) =>
        DecompressStream(input, output, max, out written, source => LZ4Stream.Decode(source));

    private static DecompressionStatus DecompressStream(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int max, out int written, Func<Stream, Stream> decoder)
    {
        written = 0;

        // The stream decoders read from a Stream, so the compressed bytes go into a pooled array first.
        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(input.Length, 1));
        try
        {
            input.CopyTo(rented);
            using var source = new MemoryStream(rented, 0, input.Length, writable: false);
            using var decompressed = decoder(source);
            while (true)
            {
                // Ask for one byte beyond the limit so that a bomb is detected, never written past.
                var room = (int)Math.Min(StreamChunk, (long)max - written + 1);
                var span = output.GetSpan(room)[..room];
                var n = decompressed.Read(span);
                if (n == 0)
                {
                    return DecompressionStatus.Ok;
                }

                if (n > max - written)
                {
                    return DecompressionStatus.TooLarge;
                }

                output.Advance(n);
                written += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void CompressSnappyXerial(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        output.Write(XerialHeader);
        while (!input.IsEmpty)
        {
            var chunk = input[..Math.Min(XerialBlockSize, input.Length)];
            input = input[chunk.Length..];
            var span = output.GetSpan(4 + Snappy.GetMaxCompressedLength(chunk.Length));
            var n = Snappy.Compress(chunk, span[4..]);
            BinaryPrimitives.WriteInt32BigEndian(span, n);
            output.Advance(4 + n);
        }
    }

    private static DecompressionStatus DecompressSnappy(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int max, out int written)
    {
        written = 0;
        if (input.Length >= XerialHeader.Length && input[..XerialMagicLength].SequenceEqual(XerialHeader[..XerialMagicLength]))
        {
            // xerial framing: header (magic, version, compatible version), then [int32 length][snappy block]...
            var p = XerialHeader.Length;
            while (p < input.Length)
            {
                if (input.Length - p < 4)
                {
                    return DecompressionStatus.Corrupt;
                }

                var length = BinaryPrimitives.ReadInt32BigEndian(input[p..]);
                p += 4;
                if (length < 0 || length > input.Length - p)
                {
                    return DecompressionStatus.Corrupt;
                }

                var status = DecompressSnappyBlock(input.Slice(p, length), output, max, ref written);
                if (status != DecompressionStatus.Ok)
                {
                    return status;
                }

                p += length;
            }

            return DecompressionStatus.Ok;
        }

        return DecompressSnappyBlock(input, output, max, ref written);
    }

    private static DecompressionStatus DecompressSnappyBlock(ReadOnlySpan<byte> block, IBufferWriter<byte> output, int max, ref int written)
    {
        if (block.IsEmpty)
        {
            return DecompressionStatus.Corrupt;
        }

        // The block starts with its uncompressed length; check it against the limit before asking for room.
        var length = Snappy.GetUncompressedLength(block);
        if (length < 0)
        {
            return DecompressionStatus.Corrupt;
        }

        if (length > max - written)
        {
            return DecompressionStatus.TooLarge;
        }

        var span = output.GetSpan(Math.Max(length, 1))[..length];
        if (!Snappy.TryDecompress(block, span, out var n) || n != length)
        {
            return DecompressionStatus.Corrupt;
        }

        output.Advance(n);
        written += n;
        return DecompressionStatus.Ok;
    }

    private static void CompressZstd(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int level)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, Compressor.MinCompressionLevel);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, Compressor.MaxCompressionLevel);
        var compressor = t_zstdCompressor ??= new Compressor(level);
        if (compressor.Level != level)
        {
            compressor.Level = level;
        }

        var span = output.GetSpan(Compressor.GetCompressBound(input.Length));
        var n = compressor.Wrap(input, span);
        output.Advance(n);
    }

    private static DecompressionStatus DecompressZstd(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int max, out int written)
    {
        written = 0;
        var decompressor = t_zstdDecompressor ??= new Decompressor();
        decompressor.ResetStream();

        // A frame that declares its content size (librdkafka's and zstd's one-shot API do) is checked before
        // anything is allocated.
        if (DeclaredZstdContentSize(input) is { } declared && declared > (ulong)max)
        {
            return DecompressionStatus.TooLarge;
        }

        // The window is memory the decoder allocates on the frame's say-so. Cap it near the output limit, but no
        // lower than 2^23: streaming producers (Java's zstd-jni) declare windows from their level, not their size.
        var windowLog = Math.Clamp(64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Max(max, 1) - 1), 23, 27);
        decompressor.SetParameter(ZSTD_dParameter.ZSTD_d_windowLogMax, windowLog);

        var consumedTotal = 0;
        while (true)
        {
            var room = (int)Math.Min(StreamChunk, (long)max - written + 1);
            var span = output.GetSpan(room)[..room];
            var status = decompressor.UnwrapStream(input[consumedTotal..], span, out var consumed, out var n);
            consumedTotal += consumed;
            if (n > max - written)
            {
                decompressor.ResetStream();
                return DecompressionStatus.TooLarge;
            }

            output.Advance(n);
            written += n;
            if (status == OperationStatus.Done)
            {
                // A frame ended; Kafka's batches hold one, but concatenated frames are valid zstd.
                if (consumedTotal == input.Length)
                {
                    return DecompressionStatus.Ok;
                }

                decompressor.ResetStream();
                continue;
            }

            if (status == OperationStatus.InvalidData)
            {
                decompressor.ResetStream();
                return DecompressionStatus.Corrupt;
            }

            if (status == OperationStatus.NeedMoreData && consumedTotal == input.Length && n == 0)
            {
                // Input ended inside a frame.
                decompressor.ResetStream();
                return DecompressionStatus.Corrupt;
            }
        }
    }

    /// <summary>Content size from a zstd frame header, when the frame declares one.</summary>
    private static ulong? DeclaredZstdContentSize(ReadOnlySpan<byte> input)
    {
        // Frame header: magic (4), descriptor (1), [window descriptor (1)], [dictionary id (0/1/2/4)], [content size (0/1/2/4/8)].
        if (input.Length < 6 || BinaryPrimitives.ReadUInt32LittleEndian(input) != 0xFD2FB528u)
        {
            return null;
        }

        var descriptor = input[4];
        var sizeFlag = descriptor >> 6;
        var singleSegment = (descriptor & 0x20) != 0;
        ReadOnlySpan<byte> dictionaryIdSizes = [0, 1, 2, 4];
        var p = 5 + (singleSegment ? 0 : 1) + dictionaryIdSizes[descriptor & 0x03];
        var sizeBytes = sizeFlag switch
        {
            0 => singleSegment ? 1 : 0,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        if (sizeBytes == 0 || input.Length < p + sizeBytes)
        {
            return null;
        }

        var field = input.Slice(p, sizeBytes);
        return sizeBytes switch
        {
            1 => field[0],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(field) + 256u,
            4 => BinaryPrimitives.ReadUInt32LittleEndian(field),
            _ => BinaryPrimitives.ReadUInt64LittleEndian(field),
        };
    }

    /// <summary>A write-only stream appending to an <see cref="IBufferWriter{T}"/> (for GZipStream).</summary>
    private sealed class BufferWriterStream(IBufferWriter<byte> output) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer) => output.Write(buffer);
    }
}
