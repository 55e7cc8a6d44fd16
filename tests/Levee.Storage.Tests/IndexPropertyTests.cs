using CsCheck;

namespace Levee.Storage.Tests;

public sealed class IndexPropertyTests
{
    [Fact]
    public void Read_AnyOffset_ReturnsTheBatchContainingIt_AcrossSegmentsAndReopens()
    {
        var batchGen = Gen.Select(Gen.Int[1, 6], Gen.Int[0, 300]);
        var gen = Gen.Select(batchGen.Array[1, 60], Gen.Int[200, 3000], Gen.Int[0, 600], Gen.Bool);
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
