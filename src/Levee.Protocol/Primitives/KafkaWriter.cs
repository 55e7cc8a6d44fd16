using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Levee.Protocol.Records;

namespace Levee.Protocol;

/// <summary>
/// Writes Kafka's wire primitives big-endian into an <see cref="IBufferWriter{T}"/> (a pipe, an
/// <see cref="ArrayBufferWriter{T}"/>, a pooled buffer), sans-I/O. The mirror of <see cref="KafkaReader"/>.
/// </summary>
public ref struct KafkaWriter
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly IBufferWriter<byte> _output;
    private long _bytesWritten;

    /// <summary>Creates a writer that appends to <paramref name="output"/>.</summary>
    public KafkaWriter(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
        _bytesWritten = 0;
    }

    /// <summary>Number of bytes written through this writer.</summary>
    public readonly long BytesWritten => _bytesWritten;

    /// <summary>Writes a signed 8-bit integer.</summary>
    public void WriteInt8(sbyte value)
    {
        _output.GetSpan(1)[0] = (byte)value;
        Advance(1);
    }

    /// <summary>Writes a big-endian signed 16-bit integer.</summary>
    public void WriteInt16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(_output.GetSpan(2), value);
        Advance(2);
    }

    /// <summary>Writes a big-endian signed 32-bit integer.</summary>
    public void WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_output.GetSpan(4), value);
        Advance(4);
    }

    /// <summary>Writes a big-endian signed 64-bit integer.</summary>
    public void WriteInt64(long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(_output.GetSpan(8), value);
        Advance(8);
    }

    /// <summary>Writes a big-endian unsigned 16-bit integer.</summary>
    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_output.GetSpan(2), value);
        Advance(2);
    }

    /// <summary>Writes a big-endian unsigned 32-bit integer.</summary>
    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_output.GetSpan(4), value);
        Advance(4);
    }

    /// <summary>Writes a big-endian IEEE 754 double.</summary>
    public void WriteFloat64(double value)
    {
        BinaryPrimitives.WriteDoubleBigEndian(_output.GetSpan(8), value);
        Advance(8);
    }

    /// <summary>Writes a boolean as one byte, 1 or 0.</summary>
    public void WriteBool(bool value)
    {
        _output.GetSpan(1)[0] = value ? (byte)1 : (byte)0;
        Advance(1);
    }

    /// <summary>Writes a UUID as 16 bytes, most significant first (Kafka's two big-endian longs).</summary>
    public void WriteUuid(Guid value)
    {
        if (!value.TryWriteBytes(_output.GetSpan(16), bigEndian: true, out var written) || written != 16)
        {
            throw new InvalidOperationException("The output buffer returned a span shorter than requested.");
        }

        Advance(16);
    }

    /// <summary>Writes an unsigned LEB128 varint (1 to 5 bytes).</summary>
    public void WriteUnsignedVarInt(uint value)
    {
        var span = _output.GetSpan(5);
        var length = 0;
        while (value >= 0x80)
        {
            span[length++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[length++] = (byte)value;
        Advance(length);
    }

    /// <summary>Writes a non-negative int as an unsigned varint (sizes, counts, tags).</summary>
    public void WriteUnsignedVarInt(int value)
    {
        if (value < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "An unsigned varint cannot be negative.");
        }

        WriteUnsignedVarInt((uint)value);
    }

    /// <summary>Writes a zig-zag encoded signed varint (32 bits).</summary>
    public void WriteVarInt(int value) => WriteUnsignedVarInt((uint)((value << 1) ^ (value >> 31)));

    /// <summary>Writes a zig-zag encoded signed varlong (64 bits, 1 to 10 bytes).</summary>
    public void WriteVarLong(long value)
    {
        var raw = (ulong)((value << 1) ^ (value >> 63));
        var span = _output.GetSpan(10);
        var length = 0;
        while (raw >= 0x80)
        {
            span[length++] = (byte)(raw | 0x80);
            raw >>= 7;
        }

        span[length++] = (byte)raw;
        Advance(length);
    }

    /// <summary>Writes a non-null string: INT16 length (non-compact) or unsigned varint length + 1 (compact).</summary>
    public void WriteString(string value, bool compact)
    {
        ArgumentNullException.ThrowIfNull(value);
        var byteCount = Utf8.GetByteCount(value);
        if (compact)
        {
            WriteUnsignedVarInt((uint)byteCount + 1);
        }
        else
        {
            if (byteCount > short.MaxValue)
            {
                throw new KafkaProtocolException($"String of {byteCount} bytes is too long for an INT16 length.");
            }

            WriteInt16((short)byteCount);
        }

        if (byteCount > 0)
        {
            var span = _output.GetSpan(byteCount);
            Utf8.GetBytes(value, span);
            Advance(byteCount);
        }
    }

    /// <summary>Writes a string that may be null (length -1, or 0 in the compact form).</summary>
    public void WriteNullableString(string? value, bool compact)
    {
        if (value is null)
        {
            WriteNullLength(compact, int16: true);
        }
        else
        {
            WriteString(value, compact);
        }
    }

    /// <summary>Writes non-null bytes: INT32 length (non-compact) or unsigned varint length + 1 (compact).</summary>
    public void WriteBytes(ReadOnlySpan<byte> value, bool compact)
    {
        WriteLength(value.Length, compact);
        WriteRaw(value);
    }

    /// <summary>Writes bytes that may be null.</summary>
    public void WriteNullableBytes(byte[]? value, bool compact)
    {
        if (value is null)
        {
            WriteNullLength(compact, int16: false);
        }
        else
        {
            WriteBytes(value, compact);
        }
    }

    /// <summary>
    /// Writes a records field: nullable bytes on the wire, copied from <paramref name="records"/> as they are, except
    /// <see cref="DeferredRecords"/> going to an <see cref="IDeferredRecordsWriter"/>: those are written by reference
    /// (the output reads them when it sends the frame), after their exact length.
    /// </summary>
    public void WriteRecords(ReadOnlyMemory<byte>? records, bool compact)
    {
        if (records is { } value)
        {
            if (value.IsEmpty)
            {
                // Nothing to read, deferred or not: no splice point, and deferred records are not asked for a span.
                WriteLength(0, compact);
                return;
            }

            if (_output is IDeferredRecordsWriter deferredOutput
                && MemoryMarshal.TryGetMemoryManager(value, out DeferredRecords? deferred, out var start, out var length))
            {
                WriteLength(length, compact);
                deferredOutput.WriteDeferred(deferred, start, length);
                _bytesWritten += length;
                return;
            }

            WriteBytes(value.Span, compact);
        }
        else
        {
            WriteNullLength(compact, int16: false);
        }
    }

    /// <summary>Writes an array length: INT32 (non-compact) or unsigned varint count + 1 (compact); -1 writes a null array.</summary>
    public void WriteArrayLength(int count, bool compact)
    {
        if (count < -1)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "An array length is -1 (null) or more.");
        }

        if (count == -1)
        {
            WriteNullLength(compact, int16: false);
        }
        else
        {
            WriteLength(count, compact);
        }
    }

    /// <summary>Writes bytes as they are, with no length prefix.</summary>
    public void WriteRaw(ReadOnlySpan<byte> value)
    {
        // Copy in chunks the output chooses, so a large payload does not force one huge buffer.
        while (!value.IsEmpty)
        {
            var span = _output.GetSpan(Math.Min(value.Length, 4096));
            var count = Math.Min(span.Length, value.Length);
            value[..count].CopyTo(span);
            Advance(count);
            value = value[count..];
        }
    }

    private void WriteLength(int length, bool compact)
    {
        if (compact)
        {
            WriteUnsignedVarInt((uint)length + 1);
        }
        else
        {
            WriteInt32(length);
        }
    }

    private void WriteNullLength(bool compact, bool int16)
    {
        if (compact)
        {
            WriteUnsignedVarInt(0u);
        }
        else if (int16)
        {
            WriteInt16(-1);
        }
        else
        {
            WriteInt32(-1);
        }
    }

    private void Advance(int count)
    {
        _output.Advance(count);
        _bytesWritten += count;
    }
}
