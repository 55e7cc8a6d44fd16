using CsCheck;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Tests;

public sealed class MetadataImagePropertyTests
{
    [Fact]
    public void Replay_InAnyBatchSplit_ThroughTheCodec_GivesTheSameImage()
    {
        Gen.Select(Gen.Int.Array[1, 120], Gen.Int[1, 8]).Sample(
            (seeds, maxBatch) =>
            {
                var records = RandomRecords.Build(seeds);
                var oneByOne = MetadataImage.Empty;
                foreach (var record in records)
                {
                    oneByOne = oneByOne.Apply(record);
                }

                var batched = MetadataImage.Empty;
                var random = new Random(seeds[0]);
                for (var i = 0; i < records.Count;)
                {
                    var size = Math.Min(random.Next(1, maxBatch + 1), records.Count - i);
                    var decoded = MetadataRecordCodec.DecodeBatch(MetadataRecordCodec.EncodeBatch(records.GetRange(i, size)));
                    batched = batched.Apply(decoded);
                    i += size;
                }

                Assert.Equal(oneByOne.ToSnapshot(), batched.ToSnapshot());
            },
            iter: 200);
    }

    [Fact]
    public void SnapshotAtAnyPoint_ThenTheRestOfTheLog_GivesTheSameImage()
    {
        Gen.Select(Gen.Int.Array[1, 120], Gen.Double[0, 1]).Sample(
            (seeds, at) =>
            {
                var records = RandomRecords.Build(seeds);
                var cut = (int)(at * records.Count);
                var expected = MetadataImage.Empty.Apply(records).WithOffset(records.Count);

                var head = MetadataImage.Empty.Apply(records.Take(cut)).WithOffset(cut);
                var restored = MetadataImage.FromSnapshot(head.ToSnapshot());
                Assert.Equal(head.ToSnapshot(), restored.ToSnapshot());
                Assert.Equal(head.ToSnapshot(), MetadataImage.Empty.Apply(head.ToRecords()).WithOffset(cut).ToSnapshot());

                var resumed = restored.Apply(records.Skip(cut)).WithOffset(records.Count);
                Assert.Equal(expected.ToSnapshot(), resumed.ToSnapshot());
            },
            iter: 200);
    }
}
