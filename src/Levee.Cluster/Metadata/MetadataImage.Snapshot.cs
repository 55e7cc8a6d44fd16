using System.Buffers;
using System.Buffers.Binary;

namespace Levee.Cluster.Metadata;

public sealed partial class MetadataImage
{
    // "LVMS": Levee metadata snapshot. Followed by int16 format version, int64 offset, then a record batch.
    private const int SnapshotMagic = 0x4C564D53;
    private const short SnapshotFormatVersion = 0;
    private const int SnapshotHeaderSize = 4 + 2 + 8;

    /// <summary>
    /// The records that rebuild this image from <see cref="Empty"/>, in a canonical order (brokers by
    /// id, topics by name with their partitions by index, configs by resource and name, producer
    /// ids). As in KRaft, a snapshot is such a list, so it needs no codec of its own; the canonical
    /// order makes equal images serialise to equal bytes.
    /// </summary>
    public IReadOnlyList<MetadataRecord> ToRecords()
    {
        var records = new List<MetadataRecord>();
        foreach (var broker in Brokers.Values)
        {
            records.Add(new RegisterBrokerRecord(
                broker.Id, broker.IncarnationId, broker.Epoch, broker.EndPoints, broker.Rack, broker.Fenced, broker.InControlledShutdown));
        }

        foreach (var topic in TopicsByName.Values)
        {
            records.Add(new TopicRecord(topic.Name, topic.Id));
            foreach (var p in topic.Partitions.Values)
            {
                records.Add(new PartitionRecord(
                    p.TopicId, p.PartitionId, p.Replicas, p.Isr, p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.IsReassigning ? p.AddingReplicas : null, p.IsReassigning ? p.RemovingReplicas : null));
            }
        }

        foreach (var (resource, configs) in Configs)
        {
            foreach (var (name, value) in configs)
            {
                records.Add(new ConfigRecord(resource.Type, resource.Name, name, value));
            }
        }

        if (NextProducerId > 0)
        {
            records.Add(new ProducerIdsRecord(-1, -1, NextProducerId));
        }

        records.AddRange(ScramCredentials.Values);
        records.AddRange(Acls.Values);
        foreach (var (entity, quotas) in ClientQuotas)
        {
            foreach (var (key, value) in quotas)
            {
                records.Add(new ClientQuotaRecord(entity, key, value, Remove: false));
            }
        }

        return records;
    }

    /// <summary>Serialises the image as a snapshot: a header with the offset, then <see cref="ToRecords"/> as one batch.</summary>
    public byte[] ToSnapshot()
    {
        var output = new ArrayBufferWriter<byte>(1024);
        var header = output.GetSpan(SnapshotHeaderSize);
        BinaryPrimitives.WriteInt32BigEndian(header, SnapshotMagic);
        BinaryPrimitives.WriteInt16BigEndian(header[4..], SnapshotFormatVersion);
        BinaryPrimitives.WriteInt64BigEndian(header[6..], Offset);
        output.Advance(SnapshotHeaderSize);
        MetadataRecordCodec.WriteBatch(output, ToRecords());
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Rebuilds an image from <see cref="ToSnapshot"/> bytes.</summary>
    /// <exception cref="MetadataFormatException">The bytes are not a valid snapshot.</exception>
    public static MetadataImage FromSnapshot(ReadOnlyMemory<byte> snapshot)
    {
        var span = snapshot.Span;
        if (span.Length < SnapshotHeaderSize || BinaryPrimitives.ReadInt32BigEndian(span) != SnapshotMagic)
        {
            throw new MetadataFormatException("Not a Levee metadata snapshot (bad magic or too short).");
        }

        var version = BinaryPrimitives.ReadInt16BigEndian(span[4..]);
        if (version != SnapshotFormatVersion)
        {
            throw new MetadataFormatException($"Unsupported metadata snapshot format {version}.");
        }

        var offset = BinaryPrimitives.ReadInt64BigEndian(span[6..]);
        var records = MetadataRecordCodec.DecodeBatch(snapshot[SnapshotHeaderSize..]);
        try
        {
            return Empty.Apply(records).WithOffset(offset);
        }
        catch (InvalidMetadataRecordException e)
        {
            throw new MetadataFormatException("Metadata snapshot is inconsistent: " + e.Message, e);
        }
    }
}
