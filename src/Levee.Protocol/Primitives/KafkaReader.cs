using System.Buffers.Binary;
using System.Text;

namespace Levee.Protocol;

/// <summary>
/// Reads Kafka's wire primitives (big-endian integers, varints, strings, bytes, records, array
/// lengths) from a buffer, sans-I/O. Every length read from the wire is checked against the bytes
/// that remain before anything is allocated; malformed input throws <see cref="KafkaProtocolException"/>.
/// </summary>
/// <remarks>
/// Records are returned as slices of the original buffer, never copied: "bytes stay bytes".
/// Invalid UTF-8 in strings is accepted and decoded with replacement characters, as Kafka's Java
/// client does.
/// </remarks>
public ref struct KafkaReader
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly ReadOnlyMemory<byte> _memory;
    private readonly ReadOnlySpan<byte> _span;
    private int _position;

    /// <summary>Creates a reader positioned at the start of <paramref name="buffer"/>.</summary>
    public KafkaReader(ReadOnlyMemory<byte> buffer)
    {
        _memory = buffer;
        _span = buffer.Span;
        _position = 0;
    }

    /// <summary>Number of bytes consumed so far.</summary>
    public readonly int Position => _position;

    /// <summary>Number of bytes not yet consumed.</summary>
    public readonly int Remaining => _span.Length - _position;

    /// <summary>Total length of the buffer.</summary>
    public readonly int Length => _span.Length;

    /// <summary>Reads a signed 8-bit integer.</summary>
    public sbyte ReadInt8() => (sbyte)Take(1)[0];

    /// <summary>Reads a big-endian signed 16-bit integer.</summary>
    public short ReadInt16() => BinaryPrimitives.ReadInt16BigEndian(Take(2));

    /// <summary>Reads a big-endian signed 32-bit integer.</summary>
    public int ReadInt32() => BinaryPrimitives.ReadInt32BigEndian(Take(4));

    /// <summary>Reads a big-endian signed 64-bit integer.</summary>
    public long ReadInt64() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

    /// <summary>Reads a big-endian unsigned 16-bit integer.</summary>
    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));

    /// <summary>Reads a big-endian unsigned 32-bit integer.</summary>
    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));

    /// <summary>Reads a big-endian IEEE 754 double.</summary>
    public double ReadFloat64() => BinaryPrimitives.ReadDoubleBigEndian(Take(8));

    /// <summary>Reads a boolean: any non-zero byte is true, as in Kafka.</summary>
    public bool ReadBool() => Take(1)[0] != 0;

    /// <summary>Reads a UUID: 16 bytes, most significant first (Kafka's two big-endian longs).</summary>
    public Guid ReadUuid() => new(Take(16), bigEndian: true);

    /// <summary>Reads an unsigned LEB128 varint of at most 5 bytes.</summary>
    public uint ReadUnsignedVarInt()
    {
        uint result = 0;
        for (var shift = 0; shift <= 28; shift += 7)
        {
            if (_position >= _span.Length)
            {
                throw Truncated(1);
            }

            var b = _span[_position++];
            if (shift == 28 && b > 0x0F)
            {
                throw new KafkaProtocolException("Unsigned varint is longer than 5 bytes or overflows 32 bits.");
            }

            result |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }

        throw new KafkaProtocolException("Unsigned varint is longer than 5 bytes.");
    }

    /// <summary>Reads a zig-zag encoded signed varint (32 bits).</summary>
    public int ReadVarInt()
    {
        var raw = ReadUnsignedVarInt();
        return (int)(raw >> 1) ^ -(int)(raw & 1);
    }

    /// <summary>Reads a zig-zag encoded signed varlong (64 bits, at most 10 bytes).</summary>
    public long ReadVarLong()
    {
        ulong raw = 0;
        for (var shift = 0; shift <= 63; shift += 7)
        {
            if (_position >= _span.Length)
            {
                throw Truncated(1);
            }

            var b = _span[_position++];
            if (shift == 63 && b > 0x01)
            {
                throw new KafkaProtocolException("Varlong is longer than 10 bytes or overflows 64 bits.");
            }

            raw |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return (long)(raw >> 1) ^ -(long)(raw & 1);
            }
        }

        throw new KafkaProtocolException("Varlong is longer than 10 bytes.");
    }

    /// <summary>Reads a non-null string: INT16 length (non-compact) or unsigned varint length + 1 (compact).</summary>
    public string ReadString(bool compact) =>
        ReadNullableString(compact) ?? throw new KafkaProtocolException("Non-nullable string was null.");

    /// <summary>Reads a string that may be null (length -1, or 0 in the compact form).</summary>
    public string? ReadNullableString(bool compact)
    {
        var length = compact ? ReadCompactLength() : ReadInt16();
        if (length < 0)
        {
            return length == -1 ? null : throw new KafkaProtocolException($"Invalid string length {length}.");
        }

        return Utf8.GetString(Take(length));
    }

    /// <summary>Reads a non-null non-compact string (INT16 length).</summary>
    public string ReadString() => ReadString(compact: false);

    /// <summary>Reads a non-null compact string (unsigned varint length + 1).</summary>
    public string ReadCompactString() => ReadString(compact: true);

    /// <summary>Reads a nullable non-compact string.</summary>
    public string? ReadNullableString() => ReadNullableString(compact: false);

    /// <summary>Reads a nullable compact string.</summary>
    public string? ReadCompactNullableString() => ReadNullableString(compact: true);

    /// <summary>Reads non-null bytes: INT32 length (non-compact) or unsigned varint length + 1 (compact). Copies.</summary>
    public byte[] ReadBytes(bool compact) =>
        ReadNullableBytes(compact) ?? throw new KafkaProtocolException("Non-nullable bytes were null.");

    /// <summary>Reads bytes that may be null. Copies into a new array sized by a checked length.</summary>
    public byte[]? ReadNullableBytes(bool compact)
    {
        var slice = ReadNullableSlice(compact);
        return slice.HasValue ? slice.Value.ToArray() : null;
    }

    /// <summary>
    /// Reads a records field (nullable bytes on the wire) as a slice of the underlying buffer, without copying.
    /// </summary>
    public ReadOnlyMemory<byte>? ReadRecords(bool compact) => ReadNullableSlice(compact);

    /// <summary>
    /// Reads an array length: INT32 (non-compact) or unsigned varint count + 1 (compact). Returns -1 for a
    /// null array. A count larger than the remaining bytes is rejected, since every element takes at least one byte.
    /// </summary>
    public int ReadArrayLength(bool compact)
    {
        var count = compact ? ReadCompactLength() : ReadInt32();
        if (count < -1)
        {
            throw new KafkaProtocolException($"Invalid array length {count}.");
        }

        if (count > Remaining)
        {
            throw new KafkaProtocolException($"Array length {count} exceeds the {Remaining} remaining bytes.");
        }

        return count;
    }

    /// <summary>Reads an unsigned varint used as a size or count and checks it fits in the remaining bytes.</summary>
    public int ReadSize()
    {
        var size = ReadUnsignedVarInt();
        if (size > (uint)Remaining)
        {
            throw new KafkaProtocolException($"Size {size} exceeds the {Remaining} remaining bytes.");
        }

        return (int)size;
    }

    /// <summary>Returns the next <paramref name="length"/> bytes as a slice of the buffer, without copying.</summary>
    public ReadOnlyMemory<byte> ReadRaw(int length)
    {
        CheckAvailable(length);
        var slice = _memory.Slice(_position, length);
        _position += length;
        return slice;
    }

    /// <summary>Skips <paramref name="length"/> bytes.</summary>
    public void Skip(int length)
    {
        CheckAvailable(length);
        _position += length;
    }

    /// <summary>
    /// Reads a tagged-field section and skips every field in it. For structures that have no known tags.
    /// </summary>
    public void SkipTaggedFields()
    {
        var count = ReadUnsignedVarInt();
        for (uint i = 0; i < count; i++)
        {
            ReadUnsignedVarInt();
            Skip(ReadSize());
        }
    }

    /// <summary>Throws unless the bytes consumed since <paramref name="start"/> equal a tagged field's declared size.</summary>
    public readonly void CheckTaggedFieldSize(int start, int size, uint tag)
    {
        if (_position - start != size)
        {
            throw new KafkaProtocolException($"Tagged field {tag} declared {size} bytes but its value took {_position - start}.");
        }
    }

    private ReadOnlyMemory<byte>? ReadNullableSlice(bool compact)
    {
        var length = compact ? ReadCompactLength() : ReadInt32();
        if (length < 0)
        {
            return length == -1 ? null : throw new KafkaProtocolException($"Invalid bytes length {length}.");
        }

        return ReadRaw(length);
    }

    // Compact lengths are N+1 on the wire, 0 meaning null; returned as N (or -1). Lengths that cannot fit
    // in an int are rejected here; the caller checks them against the remaining bytes.
    private int ReadCompactLength()
    {
        var raw = ReadUnsignedVarInt();
        if (raw > int.MaxValue)
        {
            throw new KafkaProtocolException($"Compact length {raw} is out of range.");
        }

        return (int)raw - 1;
    }

    private ReadOnlySpan<byte> Take(int length)
    {
        CheckAvailable(length);
        var slice = _span.Slice(_position, length);
        _position += length;
        return slice;
    }

    private readonly void CheckAvailable(int length)
    {
        if (length < 0)
        {
            throw new KafkaProtocolException($"Invalid length {length}.");
        }

        if (length > _span.Length - _position)
        {
            throw Truncated(length);
        }
    }

    private readonly KafkaProtocolException Truncated(int needed) =>
        new($"Truncated input: needed {needed} bytes at position {_position}, {_span.Length - _position} remain.");
}
