namespace Levee.Protocol.Records;

/// <summary>
/// Zig-zag varints as Kafka's record format v2 writes them (protobuf style). Reading is bounds-checked and
/// never throws: a truncated or over-long varint reports failure.
/// </summary>
internal static class Varint
{
    /// <summary>Reads a zig-zag varint (at most 5 bytes) at <paramref name="position"/>, advancing it.</summary>
    public static bool TryReadInt32(ReadOnlySpan<byte> data, ref int position, out int value)
    {
        uint raw = 0;
        var shift = 0;
        var p = position;
        while (true)
        {
            if (p >= data.Length || shift > 28)
            {
                value = 0;
                return false;
            }

            var b = data[p++];
            if (shift == 28 && (b & 0xF0) != 0)
            {
                // The fifth byte may only carry the top four bits.
                value = 0;
                return false;
            }

            raw |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                break;
            }

            shift += 7;
        }

        position = p;
        value = (int)(raw >> 1) ^ -(int)(raw & 1);
        return true;
    }

    /// <summary>Reads a zig-zag varlong (at most 10 bytes) at <paramref name="position"/>, advancing it.</summary>
    public static bool TryReadInt64(ReadOnlySpan<byte> data, ref int position, out long value)
    {
        ulong raw = 0;
        var shift = 0;
        var p = position;
        while (true)
        {
            if (p >= data.Length || shift > 63)
            {
                value = 0;
                return false;
            }

            var b = data[p++];
            if (shift == 63 && (b & 0xFE) != 0)
            {
                value = 0;
                return false;
            }

            raw |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                break;
            }

            shift += 7;
        }

        position = p;
        value = (long)(raw >> 1) ^ -(long)(raw & 1);
        return true;
    }

    /// <summary>Bytes a zig-zag varint takes.</summary>
    public static int SizeOfInt32(int value) => SizeOfUnsigned((uint)((value << 1) ^ (value >> 31)));

    /// <summary>Bytes a zig-zag varlong takes.</summary>
    public static int SizeOfInt64(long value)
    {
        var v = (ulong)((value << 1) ^ (value >> 63));
        var size = 1;
        while (v >= 0x80)
        {
            v >>= 7;
            size++;
        }

        return size;
    }

    /// <summary>Writes a zig-zag varint; returns the bytes written. The caller sized the span.</summary>
    public static int WriteInt32(Span<byte> destination, int value) =>
        WriteUnsigned(destination, (uint)((value << 1) ^ (value >> 31)));

    /// <summary>Writes a zig-zag varlong; returns the bytes written. The caller sized the span.</summary>
    public static int WriteInt64(Span<byte> destination, long value)
    {
        var v = (ulong)((value << 1) ^ (value >> 63));
        var i = 0;
        while (v >= 0x80)
        {
            destination[i++] = (byte)(v | 0x80);
            v >>= 7;
        }

        destination[i++] = (byte)v;
        return i;
    }

    private static int SizeOfUnsigned(uint v)
    {
        var size = 1;
        while (v >= 0x80)
        {
            v >>= 7;
            size++;
        }

        return size;
    }

    private static int WriteUnsigned(Span<byte> destination, uint v)
    {
        var i = 0;
        while (v >= 0x80)
        {
            destination[i++] = (byte)(v | 0x80);
            v >>= 7;
        }

        destination[i++] = (byte)v;
        return i;
    }
}
