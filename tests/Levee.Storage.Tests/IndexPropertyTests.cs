using CsCheck;

namespace Levee.Storage.Tests;

public sealed class IndexPropertyTests
{
    [Fact]
    public void Read_AnyOffset_ReturnsTheBatchContainingIt_AcrossSegmentsAndReopens()
    {
        // Small batches (many to one scan window) mixed with large ones (over 4 KiB: the scan then reads one header
        // at a time), in segments small enough to hold one batch and large enough to hold many.
        var batchGen = Gen.Select(Gen.Int[1, 6], Gen.OneOf(Gen.Int[0, 300], Gen.Int[1000, 5000]));
        var gen = Gen.Select(batchGen.Array[1, 60], Gen.OneOf(Gen.Int[200, 3000], Gen.Int[3000, 60000]), Gen.Int[0, 600], Gen.Bool);
        gen.Sample(
            (batches, segmentBytes, indexInterval, clean) =>
            {
                using var dir = new TempDir();
                var config = LogConfig.Default with { SegmentBytes = segmentBytes, IndexIntervalBytes = indexInterval, FileDeleteDelayMs = 0 };
                var expected = new List<(long Base, long Last)>();
                using (var log = LogExtensions.OpenLog(dir.Sub("t-0"), config))
                {
                    foreach (var (records, valueSize) in batches)
                    {
                        var info = log.Append(TestBatches.Build(records, valueSize: valueSize));
                        expected.Add((info.FirstOffset, info.LastOffset));
                    }

                    Check(log, expected);
                }

                using var reopened = LogExtensions.OpenLog(dir.Sub("t-0"), config, clean: clean);
                Check(reopened, expected);
            },
            iter: 40);
    }

    private static void Check(PartitionLog log, List<(long Base, long Last)> expected)
    {
        Assert.Equal(expected[^1].Last + 1, log.LogEndOffset);
        foreach (var batch in expected)
        {
            for (var offset = batch.Base; offset <= batch.Last; offset++)
            {
                var read = log.Read(offset, 1, log.HighWatermark, minOneBatch: true);
                Assert.Equal([batch], TestBatches.Offsets(read.ReadBytes()));
            }
        }

        Assert.Equal(expected, log.ReadAllOffsets(0));
    }
}
