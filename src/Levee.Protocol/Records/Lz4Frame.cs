using System.Buffers;
using System.Buffers.Binary;
using K4os.Compression.LZ4;

namespace Levee.Protocol.Records;

/// <summary>
/// The LZ4 frame format (lz4_Frame_format.md), which Kafka uses for magic 2 batches, built on K4os's block
/// codec. Kafka's Java producer writes FLG 0x60 (version 1, independent blocks, no checksums) and BD 0x40
/// (64 KiB blocks); librdkafka uses liblz4's LZ4F. Reading accepts every flag combination except a dictionary
/// id, including linked blocks and block or content checksums (which are skipped, as Kafka's own reader does:
/// the batch CRC already covers the bytes).
/// </summary>
internal static class Lz4Frame
{
    private const uint Magic = 0x184D2204;
    private const int BlockSize = 64 * 1024;
    private const int WindowSize = 64 * 1024;

    public static void Compress(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        Span<byte> header = stackalloc byte[7];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        header[4] = 0x60; // version 01, block independence, no block checksum, no content size or checksum
        header[5] = 0x40; // block maximum size 64 KiB
        header[6] = (byte)(XxHash32.Hash(header.Slice(4, 2)) >> 8);
        output.Write(header);

        while (!input.IsEmpty)
        {
            var chunk = input[..Math.Min(BlockSize, input.Length)];
            input = input[chunk.Length..];
            var span = output.GetSpan(4 + LZ4Codec.MaximumOutputSize(chunk.Length));
            var written = LZ4Codec.Encode(chunk, span[4..], LZ4Level.L00_FAST);
            if (written <= 0 || written >= chunk.Length)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)chunk.Length | 0x80000000u);
                chunk.CopyTo(span[4..]);
                written = chunk.Length;
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)written);
            }

            output.Advance(4 + written);
        }

        var end = output.GetSpan(4);
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0);
        output.Advance(4);
    }

    public static DecompressionStatus Decompress(ReadOnlySpan<byte> input, IBufferWriter<byte> output, int maxOutputBytes, out int written)
    {
        written = 0;
        if (input.Length < 7 || BinaryPrimitives.ReadUInt32LittleEndian(input) != Magic)
        {
            return DecompressionStatus.Corrupt;
        }

        var flg = input[4];
        var bd = input[5];
        if ((flg >> 6) != 1 || (flg & 0x02) != 0 || (flg & 0x01) != 0 || (bd & 0x8F) != 0)
        {
            // Wrong version, reserved bits, or a dictionary id (which no Kafka client sends).
            return DecompressionStatus.Corrupt;
        }

        var independent = (flg & 0x20) != 0;
        var blockChecksum = (flg & 0x10) != 0;
        var contentSize = (flg & 0x08) != 0;
        var contentChecksum = (flg & 0x04) != 0;
        var blockSizeId = (bd >> 4) & 0x07;
        if (blockSizeId < 4)
        {
            return DecompressionStatus.Corrupt;
        }

        var blockMax = 1 << (8 + (2 * blockSizeId)); // 4 -> 64 KiB, 5 -> 256 KiB, 6 -> 1 MiB, 7 -> 4 MiB
        var descriptorLength = 2 + (contentSize ? 8 : 0);
        if (input.Length < 4 + descriptorLength + 1)
        {
            return DecompressionStatus.Corrupt;
        }

        var descriptor = input.Slice(4, descriptorLength);
        if ((byte)(XxHash32.Hash(descriptor) >> 8) != input[4 + descriptorLength])
        {
            return DecompressionStatus.Corrupt;
        }

        if (contentSize && BinaryPrimitives.ReadUInt64LittleEndian(descriptor[2..]) > (ulong)maxOutputBytes)
        {
            return DecompressionStatus.TooLarge;
        }

        var p = 4 + descriptorLength + 1;
        byte[]? window = independent ? null : ArrayPool<byte>.Shared.Rent(WindowSize);
        var windowLength = 0;
        try
        {
            while (true)
            {
                if (input.Length - p < 4)
                {
                    return DecompressionStatus.Corrupt;
                }

                var blockHeader = BinaryPrimitives.ReadUInt32LittleEndian(input[p..]);
                p += 4;
                if (blockHeader == 0)
                {
                    break;
                }

                var uncompressed = (blockHeader & 0x80000000u) != 0;
                var size = (int)(blockHeader & 0x7FFFFFFFu);
                if (size > blockMax || size > input.Length - p)
                {
                    return DecompressionStatus.Corrupt;
                }

                var block = input.Slice(p, size);
                p += size + (blockChecksum ? 4 : 0);
                var room = (int)Math.Min(blockMax, (long)maxOutputBytes - written + 1);
                var target = output.GetSpan(room)[..room];
                int n;
                if (uncompressed)
                {
                    if (size > room)
                    {
                        return DecompressionStatus.TooLarge;
                    }

                    block.CopyTo(target);
                    n = size;
                }
                else
                {
                    n = window is null
                        ? LZ4Codec.Decode(block, target)
                        : LZ4Codec.Decode(block, target, window.AsSpan(0, windowLength));
                    if (n < 0)
                    {
                        // Either corrupt or bigger than the room we allowed; tell them apart by the room.
                        return room <= maxOutputBytes - written ? DecompressionStatus.Corrupt : DecompressionStatus.TooLarge;
                    }
                }

                if (n > maxOutputBytes - written)
                {
                    return DecompressionStatus.TooLarge;
                }

                if (window is not null)
                {
                    windowLength = Slide(window, windowLength, target[..n]);
                }

                output.Advance(n);
                written += n;
            }

            if (contentChecksum && input.Length - p < 4)
            {
                return DecompressionStatus.Corrupt;
            }

            return DecompressionStatus.Ok;
        }
        finally
        {
            if (window is not null)
            {
                ArrayPool<byte>.Shared.Return(window);
            }
        }
    }

    private static int Slide(byte[] window, int windowLength, ReadOnlySpan<byte> block)
    {
        if (block.Length >= WindowSize)
        {
            block[^WindowSize..].CopyTo(window);
            return WindowSize;
        }

        var keep = Math.Min(windowLength, WindowSize - block.Length);
        window.AsSpan(windowLength - keep, keep).CopyTo(window);
        block.CopyTo(window.AsSpan(keep));
        return keep + block.Length;
    }
}
