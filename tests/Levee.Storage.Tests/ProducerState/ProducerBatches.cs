using System.Buffers.Binary;
using Levee.Protocol.Records;

namespace Levee.Storage.Tests.ProducerState;

/// <summary>Test batches carrying an idempotent producer's id, epoch and base sequence.</summary>
internal static class ProducerBatches
{
    public static byte[] Build(long producerId, short epoch, int baseSequence, int records = 1, long timestamp = 1_700_000_000_000)
    {
        var batch = TestBatches.Build(records, timestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatchHeader.ProducerIdPosition), producerId);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatchHeader.ProducerEpochPosition), epoch);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.BaseSequencePosition), baseSequence);
        RecordBatchHeader.WriteCrc(batch);
        return batch;
    }
}
