using System.Buffers;
using System.Collections.Immutable;
using Levee.Protocol;
using Levee.Storage;

namespace Levee.Broker.Transactions;

/// <summary>
/// What the coordinator knows of one transactional id at one moment; the value of its record in
/// <c>__transaction_state</c>. Immutable: a transition builds the next one, which replaces it once written.
/// </summary>
/// <param name="ProducerId">The producer id in use.</param>
/// <param name="PreviousProducerId">The id before an epoch exhaustion gave a new one (-1 when none), for retried InitProducerId.</param>
/// <param name="ProducerEpoch">The current epoch.</param>
/// <param name="PreviousEpoch">The epoch before the last bump (-1 when none), for retried InitProducerId (KIP-360).</param>
/// <param name="TimeoutMs">The producer's transaction.timeout.ms.</param>
/// <param name="State">The state.</param>
/// <param name="Partitions">The partitions in the current transaction.</param>
/// <param name="StartMs">When the current transaction started (-1 when none).</param>
/// <param name="UpdateMs">When this state was written.</param>
public sealed record TransactionSnapshot(
    long ProducerId,
    long PreviousProducerId,
    short ProducerEpoch,
    short PreviousEpoch,
    int TimeoutMs,
    TransactionState State,
    ImmutableHashSet<TopicPartition> Partitions,
    long StartMs,
    long UpdateMs);

/// <summary>
/// The records of <c>__transaction_state</c> in Kafka's format (transaction-coordinator/TransactionLogKey and
/// TransactionLogValue): the key is int16 version 0 and the transactional id; the value is version 0 (what Kafka
/// writes for clients without KIP-890's second transaction version) and version 1 (flexible, tagged fields
/// skipped) is read. A null value is a tombstone: the transactional id expired.
/// </summary>
internal static class TransactionRecords
{
    /// <summary>The key of <paramref name="transactionalId"/>'s record.</summary>
    public static byte[] Key(string transactionalId) => Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(0);
        w.WriteString(transactionalId, compact: false);
    });

    /// <summary>TransactionLogValue version 0 for <paramref name="txn"/>.</summary>
    public static byte[] Value(TransactionSnapshot txn) => Write((ref KafkaWriter w) =>
    {
        w.WriteInt16(0);
        w.WriteInt64(txn.ProducerId);
        w.WriteInt16(txn.ProducerEpoch);
        w.WriteInt32(txn.TimeoutMs);
        w.WriteInt8((sbyte)txn.State);
        var byTopic = txn.Partitions.OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition).GroupBy(p => p.Topic, StringComparer.Ordinal).ToList();
        w.WriteArrayLength(byTopic.Count, compact: false);
        foreach (var topic in byTopic)
        {
            w.WriteString(topic.Key, compact: false);
            var partitions = topic.Select(p => p.Partition).ToList();
            w.WriteArrayLength(partitions.Count, compact: false);
            foreach (var partition in partitions)
            {
                w.WriteInt32(partition);
            }
        }

        w.WriteInt64(txn.UpdateMs);
        w.WriteInt64(txn.StartMs);
    });

    /// <summary>The transactional id of a key.</summary>
    /// <exception cref="KafkaProtocolException">Not a TransactionLogKey version 0.</exception>
    public static string ReadKey(ReadOnlyMemory<byte> key)
    {
        var r = new KafkaReader(key);
        var version = r.ReadInt16();
        return version == 0 ? r.ReadString(compact: false) : throw new KafkaProtocolException($"Unknown __transaction_state key version {version}.");
    }

    /// <summary>A TransactionLogValue (version 0 or 1).</summary>
    /// <exception cref="KafkaProtocolException">An unknown version or a malformed value.</exception>
    public static TransactionSnapshot ReadValue(ReadOnlyMemory<byte> value)
    {
        var r = new KafkaReader(value);
        var version = r.ReadInt16();
        if (version is < 0 or > 1)
        {
            throw new KafkaProtocolException($"Unknown TransactionLogValue version {version}.");
        }

        var flexible = version >= 1;
        var producerId = r.ReadInt64();
        var epoch = r.ReadInt16();
        var timeout = r.ReadInt32();
        var state = (TransactionState)r.ReadInt8();
        var partitions = ImmutableHashSet.CreateBuilder<TopicPartition>();
        var topics = r.ReadArrayLength(flexible);
        for (var i = 0; i < topics; i++)
        {
            var topic = r.ReadString(flexible);
            var count = r.ReadArrayLength(flexible);
            for (var j = 0; j < count; j++)
            {
                partitions.Add(new TopicPartition(topic, r.ReadInt32()));
            }

            if (flexible)
            {
                r.SkipTaggedFields();
            }
        }

        var update = r.ReadInt64();
        var start = r.ReadInt64();
        return new TransactionSnapshot(producerId, -1, epoch, -1, timeout, state, partitions.ToImmutable(), start, update);
    }

    private static byte[] Write(WriteAction body)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        var writer = new KafkaWriter(buffer);
        body(ref writer);
        return buffer.WrittenSpan.ToArray();
    }

    private delegate void WriteAction(ref KafkaWriter writer);
}
