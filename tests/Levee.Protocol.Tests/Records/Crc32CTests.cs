using System.Text;
using Levee.Protocol.Records;

namespace Levee.Protocol.Tests.Records;

public class Crc32CTests
{
    [Theory]
    [InlineData("123456789", 0xE3069283u)]
    [InlineData("", 0x00000000u)]
    [InlineData("a", 0xC1D04330u)]
    public void Compute_OfStandardVectors_MatchesKnownValues(string text, uint expected) =>
        Assert.Equal(expected, Crc32C.Compute(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void Compute_Of32Zeros_MatchesRfc3720Vector() =>
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));

    [Fact]
    public void Compute_Of32Ones_MatchesRfc3720Vector() =>
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));

    [Fact]
    public void Compute_OfAscending32Bytes_MatchesRfc3720Vector() =>
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));

    [Fact]
    public void Compute_OfRandomData_AgreesWithTableImplementationAtEveryLength()
    {
        var random = new Random(42);
        var data = new byte[300];
        random.NextBytes(data);
        for (var length = 0; length <= data.Length; length++)
        {
            var span = data.AsSpan(0, length);
            Assert.Equal(~Crc32C.UpdateSoftware(0xFFFFFFFFu, span), Crc32C.Compute(span));
        }
    }

    [Fact]
    public void Update_InPieces_EqualsComputeOfWhole()
    {
        var data = Encoding.ASCII.GetBytes("123456789 and some more text to cross eight-byte boundaries");
        var crc = Crc32C.Update(0xFFFFFFFFu, data.AsSpan(0, 5));
        crc = Crc32C.Update(crc, data.AsSpan(5));
        Assert.Equal(Crc32C.Compute(data), ~crc);
    }
}
