using System.Buffers;

namespace Levee.Protocol.Tests.Codec;

public class PrimitiveCodecTests
{
    private delegate void WriteAction(ref KafkaWriter writer);

    private static byte[] Bytes(WriteAction write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(buffer);
        write(ref writer);
        return buffer.WrittenSpan.ToArray();
    }

    [Theory]
    [InlineData(0u, "00")]
    [InlineData(1u, "01")]
    [InlineData(127u, "7F")]
    [InlineData(128u, "8001")]
    [InlineData(300u, "AC02")]
    [InlineData(16383u, "FF7F")]
    [InlineData(16384u, "808001")]
    [InlineData(2097151u, "FFFF7F")]
    [InlineData(268435455u, "FFFFFF7F")]
    [InlineData(268435456u, "8080808001")]
    [InlineData(uint.MaxValue, "FFFFFFFF0F")]
    public void UnsignedVarInt_EncodesLeb128AndReadsBack(uint value, string hex)
    {
        var bytes = Bytes((ref KafkaWriter w) => w.WriteUnsignedVarInt(value));
        Assert.Equal(hex, Convert.ToHexString(bytes));
        var reader = new KafkaReader(bytes);
        Assert.Equal(value, reader.ReadUnsignedVarInt());
        Assert.Equal(0, reader.Remaining);
    }

    [Theory]
    [InlineData(0, "00")]
    [InlineData(-1, "01")]
    [InlineData(1, "02")]
    [InlineData(-64, "7F")]
    [InlineData(64, "8001")]
    [InlineData(int.MaxValue, "FEFFFFFF0F")]
    [InlineData(int.MinValue, "FFFFFFFF0F")]
    public void VarInt_UsesZigZagAndReadsBack(int value, string hex)
    {
        var bytes = Bytes((ref KafkaWriter w) => w.WriteVarInt(value));
        Assert.Equal(hex, Convert.ToHexString(bytes));
        var reader = new KafkaReader(bytes);
        Assert.Equal(value, reader.ReadVarInt());
        Assert.Equal(0, reader.Remaining);
    }

    [Theory]
    [InlineData(0L, "00")]
    [InlineData(-1L, "01")]
    [InlineData(1L, "02")]
    [InlineData(long.MaxValue, "FEFFFFFFFFFFFFFFFF01")]
    [InlineData(long.MinValue, "FFFFFFFFFFFFFFFFFF01")]
    public void VarLong_UsesZigZagAndReadsBack(long value, string hex)
    {
        var bytes = Bytes((ref KafkaWriter w) => w.WriteVarLong(value));
        Assert.Equal(hex, Convert.ToHexString(bytes));
        var reader = new KafkaReader(bytes);
        Assert.Equal(value, reader.ReadVarLong());
        Assert.Equal(0, reader.Remaining);
    }

    [Theory]
    [InlineData("8080808080")] // five continuation bytes
    [InlineData("FFFFFFFF1F")] // fifth byte overflows 32 bits
    [InlineData("80")] // truncated
    [InlineData("")]
    public void UnsignedVarInt_TooLongOverflowingOrTruncated_Throws(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadUnsignedVarInt());
    }

    [Theory]
    [InlineData("8080808080808080808001")] // eleven bytes
    [InlineData("FFFFFFFFFFFFFFFFFF03")] // tenth byte overflows 64 bits
    public void VarLong_TooLongOrOverflowing_Throws(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadVarLong());
    }

    [Fact]
    public void FixedWidthIntegers_AreBigEndian()
    {
        var bytes = Bytes((ref KafkaWriter w) =>
        {
            w.WriteInt8(-2);
            w.WriteInt16(0x0102);
            w.WriteInt32(0x03040506);
            w.WriteInt64(0x0708090A0B0C0D0E);
            w.WriteUInt16(0xFFFE);
            w.WriteUInt32(0xFFFFFFFD);
            w.WriteFloat64(1.5);
            w.WriteBool(true);
        });
        Assert.Equal("FE" + "0102" + "03040506" + "0708090A0B0C0D0E" + "FFFE" + "FFFFFFFD" + "3FF8000000000000" + "01", Convert.ToHexString(bytes));
        var reader = new KafkaReader(bytes);
        Assert.Equal(-2, reader.ReadInt8());
        Assert.Equal(0x0102, reader.ReadInt16());
        Assert.Equal(0x03040506, reader.ReadInt32());
        Assert.Equal(0x0708090A0B0C0D0E, reader.ReadInt64());
        Assert.Equal(0xFFFE, reader.ReadUInt16());
        Assert.Equal(0xFFFFFFFD, reader.ReadUInt32());
        Assert.Equal(1.5, reader.ReadFloat64());
        Assert.True(reader.ReadBool());
        Assert.Equal(0, reader.Remaining);
    }

    [Fact]
    public void Uuid_IsWrittenMostSignificantByteFirst()
    {
        // Kafka writes a UUID as its most significant long then its least significant long, big-endian,
        // which is the RFC 4122 text order.
        var uuid = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");
        var bytes = Bytes((ref KafkaWriter w) => w.WriteUuid(uuid));
        Assert.Equal("00112233445566778899AABBCCDDEEFF", Convert.ToHexString(bytes));
        var reader = new KafkaReader(bytes);
        Assert.Equal(uuid, reader.ReadUuid());
    }

    [Theory]
    [InlineData(false, null, "FFFF")]
    [InlineData(false, "", "0000")]
    [InlineData(false, "ab", "00026162")]
    [InlineData(true, null, "00")]
    [InlineData(true, "", "01")]
    [InlineData(true, "ab", "036162")]
    [InlineData(true, "é", "03C3A9")]
    public void NullableString_CompactAndClassic_EncodeLengthPrefix(bool compact, string? value, string hex)
    {
        var bytes = Bytes((ref KafkaWriter w) => w.WriteNullableString(value, compact));
        Assert.Equal(hex, Convert.ToHexString(bytes));
        var reader = new KafkaReader(bytes);
        Assert.Equal(value, reader.ReadNullableString(compact));
        Assert.Equal(0, reader.Remaining);
    }

    [Theory]
    [InlineData(false, "FFFF")]
    [InlineData(true, "00")]
    public void NonNullableString_ReadingNull_Throws(bool compact, string hex)
    {
        var bytes = Convert.FromHexString(hex);
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadString(compact));
    }

    [Theory]
    [InlineData(false, "FFFE")] // -2
    [InlineData(false, "0005616263")] // 5 bytes announced, 3 present
    [InlineData(true, "0A6162")] // 9 bytes announced, 2 present
    [InlineData(true, "FFFFFFFF0F")] // length beyond int range
    public void String_WithImpossibleLength_Throws(bool compact, string hex)
    {
        var bytes = Convert.FromHexString(hex);
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadNullableString(compact));
    }

    [Theory]
    [InlineData(false, null, "FFFFFFFF")]
    [InlineData(false, new byte[] { 1, 2 }, "000000020102")]
    [InlineData(true, null, "00")]
    [InlineData(true, new byte[] { }, "01")]
    [InlineData(true, new byte[] { 9 }, "0209")]
    public void NullableBytes_CompactAndClassic_EncodeLengthPrefix(bool compact, byte[]? value, string hex)
    {
        var bytes = Bytes((ref KafkaWriter w) => w.WriteNullableBytes(value, compact));
        Assert.Equal(hex, Convert.ToHexString(bytes));
        var reader = new KafkaReader(bytes);
        Assert.Equal(value, reader.ReadNullableBytes(compact));
        Assert.Equal(0, reader.Remaining);
    }

    [Theory]
    [InlineData(false, "7FFFFFFF00")]
    [InlineData(false, "FFFFFFFE")]
    [InlineData(true, "FFFFFFFF07")]
    public void Bytes_WithLengthBeyondInput_ThrowsWithoutAllocating(bool compact, string hex)
    {
        var bytes = Convert.FromHexString(hex);
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadNullableBytes(compact));
    }

    [Fact]
    public void Records_AreReturnedAsASliceOfTheInput()
    {
        var bytes = Convert.FromHexString("00000003AABBCC");
        var memory = new ReadOnlyMemory<byte>(bytes);
        var reader = new KafkaReader(memory);
        var records = reader.ReadRecords(compact: false);
        Assert.NotNull(records);
        Assert.True(records.Value.Span.Overlaps(bytes.AsSpan(4, 3), out var offset) && offset == 0);
        bytes[5] = 0x11;
        Assert.Equal(0x11, records.Value.Span[1]);
    }

    [Theory]
    [InlineData(false, "FFFFFFFF")]
    [InlineData(true, "00")]
    public void Records_Null_RoundTrips(bool compact, string hex)
    {
        var bytes = Bytes((ref KafkaWriter w) => w.WriteRecords(null, compact));
        Assert.Equal(hex, Convert.ToHexString(bytes));
        Assert.Null(new KafkaReader(bytes).ReadRecords(compact));
    }

    [Theory]
    [InlineData(false, "FFFFFFFF", -1)]
    [InlineData(true, "00", -1)]
    [InlineData(true, "03", -2)] // 2 elements announced, nothing left
    [InlineData(false, "7FFFFFFF", -2)]
    [InlineData(false, "FFFFFFFE", -2)]
    public void ArrayLength_NullIsMinusOneAndImpossibleCountsThrow(bool compact, string hex, int expected)
    {
        var bytes = Convert.FromHexString(hex);
        if (expected == -2)
        {
            Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadArrayLength(compact));
        }
        else
        {
            Assert.Equal(expected, new KafkaReader(bytes).ReadArrayLength(compact));
        }
    }

    [Fact]
    public void Reads_PastTheEnd_ThrowKafkaProtocolException()
    {
        var bytes = new byte[3];
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadInt32());
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadInt64());
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).ReadUuid());
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).Skip(4));
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(bytes).Skip(-1));
        Assert.Throws<KafkaProtocolException>(() => new KafkaReader(ReadOnlyMemory<byte>.Empty).ReadInt8());
    }

    [Fact]
    public void ClassicString_LongerThanInt16_IsRefusedOnWrite()
    {
        var value = new string('a', short.MaxValue + 1);
        Assert.Throws<KafkaProtocolException>(() => Bytes((ref KafkaWriter w) => w.WriteString(value, compact: false)));
        Assert.Equal(short.MaxValue + 1 + 3, Bytes((ref KafkaWriter w) => w.WriteString(value, compact: true)).Length);
    }

    [Fact]
    public void WriteRaw_CopiesLargePayloadsAcrossBufferSegments()
    {
        var payload = new byte[100_000];
        new Random(1).NextBytes(payload);
        var bytes = Bytes((ref KafkaWriter w) => w.WriteRaw(payload));
        Assert.Equal(payload, bytes);
    }
}
