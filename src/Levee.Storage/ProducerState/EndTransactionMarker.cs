using System.Buffers.Binary;
using Levee.Protocol.Records;

namespace Levee.Storage.ProducerState;

/// <summary>
/// A transaction marker (KIP-98): the single record of a control batch that ends a producer's transaction on a
/// partition. Its key is int16 version (0) and int16 type (0 = ABORT, 1 = COMMIT); its value is int16 version (0)
/// and int32 coordinator epoch, as Kafka's EndTransactionMarker.
/// </summary>
/// <param name="Commit">True for COMMIT, false for ABORT.</param>
/// <param name="CoordinatorEpoch">The epoch of the transaction coordinator that wrote it.</param>
public readonly record struct EndTransactionMarker(bool Commit, int CoordinatorEpoch)
{
    private const short AbortType = 0;
    private const short CommitType = 1;
    private const int KeySize = 4;
    private const int ValueSize = 6;

    /// <summary>
    /// Reads the marker of a control batch (the whole batch bytes). False when the batch is not a control batch or its
    /// first record is not an ABORT or COMMIT marker (Kafka's other control records, such as KRaft's, end nothing).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> batch, out EndTransactionMarker marker)
    {
        marker = default;
        var header = new RecordBatchHeader(batch);
        if (!header.IsControl || header.RecordCount < 1)
        {
            return false;
        }

        using var reader = new RecordReader(batch[..header.TotalSize]);
        if (!reader.TryReadNext(out var record) || record.KeyIsNull || record.Key.Length < KeySize || record.ValueIsNull || record.Value.Length < ValueSize)
        {
            return false;
        }

        var type = BinaryPrimitives.ReadInt16BigEndian(record.Key[2..]);
        if (type is not (AbortType or CommitType))
        {
            return false;
        }

        marker = new EndTransactionMarker(type == CommitType, BinaryPrimitives.ReadInt32BigEndian(record.Value[2..]));
        return true;
    }

    /// <summary>
    /// Builds the control batch carrying this marker for <paramref name="producerId"/> at
    /// <paramref name="producerEpoch"/>: transactional and control attributes set, base sequence -1, stamped
    /// <paramref name="timestamp"/>. The base offset and leader epoch are set by the append.
    /// </summary>
    public byte[] ToBatch(long producerId, short producerEpoch, long timestamp)
    {
        var key = new byte[KeySize];
        BinaryPrimitives.WriteInt16BigEndian(key.AsSpan(2), Commit ? CommitType : AbortType);
        var value = new byte[ValueSize];
        BinaryPrimitives.WriteInt32BigEndian(value.AsSpan(2), CoordinatorEpoch);
        var options = new RecordBatchOptions
        {
            ProducerId = producerId,
            ProducerEpoch = producerEpoch,
            BaseSequence = -1,
            IsControl = true,
            IsTransactional = true,
        };
        return RecordBatchBuilder.BuildToArray(options, [new RecordData(key, value, timestamp)]);
    }
}
