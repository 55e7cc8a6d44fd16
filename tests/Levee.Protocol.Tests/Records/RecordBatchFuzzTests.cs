using CsCheck;
using Levee.Protocol.Records;

namespace Levee.Protocol.Tests.Records;

public class RecordBatchFuzzTests
{
    private static readonly byte[][] ValidBatches =
    [
        TestBatches.Build(CompressionType.None),
        TestBatches.Build(CompressionType.Gzip),
        TestBatches.Build(CompressionType.Snappy),
        TestBatches.Build(CompressionType.Lz4),
        TestBatches.Build(CompressionType.Zstd),
    ];

    private static readonly Gen<(int Batch, (int Position, byte Value)[] Mutations, int Cut)> Mutation =
        Gen.Int[0, ValidBatches.Length - 1].SelectMany(b =>
            Gen.Select(
                Gen.Select(Gen.Int[0, ValidBatches[b].Length - 1], Gen.Byte).Array[1, 6],
                Gen.Int[0, 8],
                (m, cut) => (b, m, cut)));

    [Fact]
    public void Validate_OfRandomlyMutatedBatches_NeverThrowsAndNeverAcceptsBadCrc()
    {
        Mutation.Sample(t =>
        {
            var batch = (byte[])ValidBatches[t.Batch].Clone();
            foreach (var (position, value) in t.Mutations)
            {
                batch[position] = value;
            }

            // Sometimes also cut the tail.
            if (t.Cut == 0)
            {
                batch = batch[..(batch.Length / 2)];
            }

            var result = RecordBatchValidator.Validate(batch, TestBatches.Options);
            if (result.IsValid)
            {
                Assert.True(RecordBatchHeader.IsCrcValid(batch), "A batch whose CRC does not match was accepted.");
            }
        }, iter: 20_000);
    }

    [Fact]
    public void Validate_OfMutatedBatchesWithRecomputedCrc_NeverThrowsAndReaderAgrees()
    {
        // Fixing up the CRC drives mutations past it, into the header checks, decompression and record walking.
        Mutation.Sample(t =>
        {
            var batch = (byte[])ValidBatches[t.Batch].Clone();
            foreach (var (position, value) in t.Mutations)
            {
                if (position >= RecordBatchHeader.CrcCoveredStart)
                {
                    batch[position] = value;
                }
            }

            TestBatches.Recrc(batch);
            var result = RecordBatchValidator.Validate(batch, TestBatches.Options);
            if (result.IsValid)
            {
                // Whatever the validator accepts, the reader must read without error.
                using var reader = new RecordReader(batch);
                var count = 0;
                while (reader.TryReadNext(out _))
                {
                    count++;
                }

                Assert.Equal(result.RecordCount, count);
            }
        }, iter: 20_000);
    }

    [Fact]
    public void Validate_OfRandomBytes_NeverThrows()
    {
        Gen.Byte.Array[0, 300].Sample(bytes =>
        {
            var result = RecordBatchValidator.Validate(bytes, TestBatches.Options);
            Assert.False(result.IsValid && !RecordBatchHeader.IsCrcValid(bytes));
        }, iter: 20_000);
    }
}
