using System.Buffers.Binary;
using System.Globalization;
using Levee.Protocol.Records;

namespace Levee.Storage.ProducerState;

/// <summary>
/// Producer state snapshot files, <c>&lt;20-digit offset&gt;.snapshot</c> in the partition directory: the state of
/// every producer as of (just below) that offset. The layout is Kafka's (version 1):
/// <code>
/// version int16 = 1 | crc uint32 (CRC-32C of everything after it) | count int32 |
/// count × (producer_id int64, epoch int16, last_sequence int32, last_offset int64, offset_delta int32,
///          timestamp int64, coordinator_epoch int32, current_txn_first_offset int64)
/// </code>
/// Kafka writes one entry per producer (its last batch). Levee writes one entry per cached batch, oldest first,
/// so a restart still recognises a retry of any of the last five batches; a producer with no cached batch (only
/// markers or coordinator batches in its epoch) gets one entry with last sequence and last offset -1, as in Kafka.
/// A Kafka reader keeps the last entry per producer id, which is exactly Kafka's own content, so the files stay
/// readable by Kafka's tools. The coordinator epoch and the open transaction's first offset are in every entry of
/// a producer. Version 1 already had both fields, so the version is unchanged: snapshots written before
/// transactions held -1 in them, which reads as "no transaction open, no marker seen", and still load.
/// </summary>
public static class ProducerSnapshotFile
{
    /// <summary>File name suffix.</summary>
    public const string Suffix = ".snapshot";

    /// <summary>The format version (Kafka's).</summary>
    public const short Version = 1;

    private const int HeaderSize = 2 + 4 + 4;
    private const int EntrySize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

    /// <summary>The snapshot file path for <paramref name="offset"/>.</summary>
    public static string PathFor(string directory, long offset) =>
        Path.Combine(directory, offset.ToString("D20", CultureInfo.InvariantCulture) + Suffix);

    /// <summary>Offsets of the snapshot files in <paramref name="directory"/>, ascending.</summary>
    public static List<long> List(string directory)
    {
        var offsets = new List<long>();
        if (!Directory.Exists(directory))
        {
            return offsets;
        }

        foreach (var path in Directory.EnumerateFiles(directory, "*" + Suffix))
        {
            var name = Path.GetFileName(path);
            var stem = name.AsSpan(0, name.Length - Suffix.Length);
            if (stem.Length == 20 && long.TryParse(stem, NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                offsets.Add(offset);
            }
        }

        offsets.Sort();
        return offsets;
    }

    /// <summary>Encodes the entries (each producer's cached batches, oldest first).</summary>
    public static byte[] Encode(IEnumerable<ProducerStateEntry> producers)
    {
        ArgumentNullException.ThrowIfNull(producers);
        var rows = new List<(ProducerStateEntry Producer, BatchMetadata Batch)>();
        foreach (var producer in producers)
        {
            foreach (var batch in producer.Batches)
            {
                rows.Add((producer, batch));
            }

            if (producer.Batches.Count == 0)
            {
                rows.Add((producer, new BatchMetadata(-1, -1, -1, -1, producer.LastTimestamp)));
            }
        }

        var bytes = new byte[HeaderSize + (rows.Count * EntrySize)];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt16BigEndian(span, Version);
        BinaryPrimitives.WriteInt32BigEndian(span[6..], rows.Count);
        var position = HeaderSize;
        foreach (var (producer, batch) in rows)
        {
            var e = span[position..];
            BinaryPrimitives.WriteInt64BigEndian(e, producer.ProducerId);
            BinaryPrimitives.WriteInt16BigEndian(e[8..], producer.ProducerEpoch);
            BinaryPrimitives.WriteInt32BigEndian(e[10..], batch.LastSequence);
            BinaryPrimitives.WriteInt64BigEndian(e[14..], batch.LastOffset);
            BinaryPrimitives.WriteInt32BigEndian(e[22..], batch.OffsetDelta);
            BinaryPrimitives.WriteInt64BigEndian(e[26..], batch.Timestamp);
            BinaryPrimitives.WriteInt32BigEndian(e[34..], producer.CoordinatorEpoch);
            BinaryPrimitives.WriteInt64BigEndian(e[38..], producer.CurrentTxnFirstOffset);
            position += EntrySize;
        }

        BinaryPrimitives.WriteUInt32BigEndian(span[2..], Crc32C.Compute(span[6..]));
        return bytes;
    }

    /// <summary>Decodes a snapshot into producer entries.</summary>
    /// <exception cref="InvalidDataException">Wrong version, bad CRC, or a length that does not match the count.</exception>
    public static Dictionary<long, ProducerStateEntry> Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < HeaderSize)
        {
            throw new InvalidDataException($"Producer snapshot of {bytes.Length} bytes is shorter than its header.");
        }

        var version = BinaryPrimitives.ReadInt16BigEndian(bytes);
        if (version != Version)
        {
            throw new InvalidDataException($"Producer snapshot version {version} is not {Version}.");
        }

        var crc = BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]);
        if (crc != Crc32C.Compute(bytes[6..]))
        {
            throw new InvalidDataException("Producer snapshot CRC mismatch.");
        }

        var count = BinaryPrimitives.ReadInt32BigEndian(bytes[6..]);
        if (count < 0 || (long)count * EntrySize != bytes.Length - HeaderSize)
        {
            throw new InvalidDataException($"Producer snapshot announces {count} entries in {bytes.Length - HeaderSize} bytes.");
        }

        var producers = new Dictionary<long, ProducerStateEntry>();
        for (var i = 0; i < count; i++)
        {
            var e = bytes[(HeaderSize + (i * EntrySize))..];
            var producerId = BinaryPrimitives.ReadInt64BigEndian(e);
            var epoch = BinaryPrimitives.ReadInt16BigEndian(e[8..]);
            var lastSequence = BinaryPrimitives.ReadInt32BigEndian(e[10..]);
            var lastOffset = BinaryPrimitives.ReadInt64BigEndian(e[14..]);
            var offsetDelta = BinaryPrimitives.ReadInt32BigEndian(e[22..]);
            var timestamp = BinaryPrimitives.ReadInt64BigEndian(e[26..]);
            var coordinatorEpoch = BinaryPrimitives.ReadInt32BigEndian(e[34..]);
            var txnFirstOffset = BinaryPrimitives.ReadInt64BigEndian(e[38..]);
            if (offsetDelta < 0 || txnFirstOffset < -1)
            {
                throw new InvalidDataException($"Producer snapshot entry {i} has offset delta {offsetDelta}, transaction first offset {txnFirstOffset}.");
            }

            if (!producers.TryGetValue(producerId, out var entry))
            {
                entry = new ProducerStateEntry(producerId, epoch);
                producers[producerId] = entry;
            }

            entry.CoordinatorEpoch = coordinatorEpoch;
            entry.CurrentTxnFirstOffset = txnFirstOffset;
            if (lastOffset < 0 || lastSequence < 0)
            {
                entry.UpdateEpoch(epoch, timestamp);
                continue;
            }

            var firstSequence = BatchMetadata.DecrementSequence(lastSequence, offsetDelta);
            entry.AddBatch(epoch, new BatchMetadata(firstSequence, lastSequence, lastOffset - offsetDelta, lastOffset, timestamp));
        }

        return producers;
    }

    /// <summary>Writes a snapshot durably: a temporary file, fsynced, then renamed over the final name.</summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes) => AtomicFile.Write(path, bytes);
}
