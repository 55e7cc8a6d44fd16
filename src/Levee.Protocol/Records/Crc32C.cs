using System.Buffers.Binary;
using System.Numerics;

namespace Levee.Protocol.Records;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka's RecordBatch v2.
/// Uses <see cref="BitOperations.Crc32C(uint, ulong)"/>, which compiles to the SSE4.2 / ARMv8 CRC32C
/// instruction where the CPU has one and to a table lookup where it does not.
/// </summary>
public static class Crc32C
{
    private const uint Polynomial = 0x82F63B78u;

    private static readonly uint[] Table = BuildTable();

    /// <summary>Computes the CRC-32C of <paramref name="data"/> (initial value and final xor 0xFFFFFFFF).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xFFFFFFFFu, data);

    /// <summary>
    /// Continues a CRC over more bytes. <paramref name="crc"/> is the raw (not inverted) running value:
    /// start with 0xFFFFFFFF and invert the final result, i.e. <c>~Update(Update(~0u, a), b)</c> equals
    /// <c>Compute(a ++ b)</c>.
    /// </summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        if (!BitConverter.IsLittleEndian)
        {
            return UpdateSoftware(crc, data);
        }

        // Eight bytes at a time: the reflected CRC consumes the low byte first, which is what a
        // little-endian 64-bit load gives.
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }

    /// <summary>Table-driven CRC-32C; the portable reference the hardware path is tested against.</summary>
    internal static uint UpdateSoftware(uint crc, ReadOnlySpan<byte> data)
    {
        var table = Table;
        foreach (var b in data)
        {
            crc = table[(byte)(crc ^ b)] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
