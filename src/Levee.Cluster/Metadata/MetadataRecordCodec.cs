using System.Buffers;
using System.Collections.Immutable;
using Levee.Protocol;

namespace Levee.Cluster.Metadata;

/// <summary>
/// Reads and writes metadata records. A record is (int16 type, int16 version, unsigned-varint body
/// length, body); a batch (one Raft log entry) is an unsigned-varint count followed by that many
/// records. The body length lets a reader check each body is consumed exactly, so a torn or
/// mis-versioned record fails loudly instead of shifting every field after it.
/// </summary>
public static class MetadataRecordCodec
{
    /// <summary>The largest batch or snapshot accepted on decode (a guard against a corrupt length).</summary>
    public const int MaxEncodedSize = 256 * 1024 * 1024;

    /// <summary>Encodes a batch of records.</summary>
    public static byte[] EncodeBatch(IReadOnlyList<MetadataRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var output = new ArrayBufferWriter<byte>(64 * Math.Max(1, records.Count));
        WriteBatch(output, records);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Writes a batch of records to <paramref name="output"/>.</summary>
    public static void WriteBatch(IBufferWriter<byte> output, IReadOnlyList<MetadataRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var body = new ArrayBufferWriter<byte>(256);
        var writer = new KafkaWriter(output);
        writer.WriteUnsignedVarInt(records.Count);
        foreach (var record in records)
        {
            ArgumentNullException.ThrowIfNull(record, nameof(records));
            body.ResetWrittenCount();
            var bodyWriter = new KafkaWriter(body);
            record.WriteBody(ref bodyWriter);
            writer.WriteInt16((short)record.Type);
            writer.WriteInt16(record.Version);
            writer.WriteUnsignedVarInt(body.WrittenCount);
            writer.WriteRaw(body.WrittenSpan);
        }
    }

    /// <summary>Decodes a batch written by <see cref="EncodeBatch"/>.</summary>
    /// <exception cref="MetadataFormatException">The bytes are not a valid batch.</exception>
    public static IReadOnlyList<MetadataRecord> DecodeBatch(ReadOnlySequence<byte> batch) =>
        DecodeBatch(batch.IsSingleSegment ? batch.First : batch.ToArray());

    /// <summary>Decodes a batch written by <see cref="EncodeBatch"/>.</summary>
    /// <exception cref="MetadataFormatException">The bytes are not a valid batch.</exception>
    public static IReadOnlyList<MetadataRecord> DecodeBatch(ReadOnlyMemory<byte> batch)
    {
        if (batch.Length > MaxEncodedSize)
        {
            throw new MetadataFormatException($"Metadata batch of {batch.Length} bytes exceeds {MaxEncodedSize}.");
        }

        try
        {
            var reader = new KafkaReader(batch);
            var count = (int)reader.ReadUnsignedVarInt();

            // Every record takes at least 5 bytes: a count larger than that is corrupt, not a reason to allocate.
            if (count < 0 || count > reader.Remaining / 5)
            {
                throw new MetadataFormatException($"Metadata batch claims {count} records in {reader.Remaining} bytes.");
            }

            var records = new MetadataRecord[count];
            for (var i = 0; i < count; i++)
            {
                records[i] = ReadRecord(ref reader, batch);
            }

            if (reader.Remaining != 0)
            {
                throw new MetadataFormatException($"{reader.Remaining} trailing bytes after a metadata batch of {count} records.");
            }

            return records;
        }
        catch (KafkaProtocolException e)
        {
            throw new MetadataFormatException("Truncated or malformed metadata batch: " + e.Message, e);
        }
    }

    private static MetadataRecord ReadRecord(ref KafkaReader reader, ReadOnlyMemory<byte> batch)
    {
        var type = (MetadataRecordType)reader.ReadInt16();
        var version = reader.ReadInt16();
        var length = (int)reader.ReadUnsignedVarInt();
        if (length < 0 || length > reader.Remaining)
        {
            throw new MetadataFormatException($"Metadata record body of {length} bytes with {reader.Remaining} left.");
        }

        // Version 1 of Partition and PartitionChange records adds a reassignment's adding and removing replicas; of
        // AccessControlEntry records, the tenant whose ACL it is.
        if (version != 0 && !(version == 1 && type is MetadataRecordType.Partition or MetadataRecordType.PartitionChange or MetadataRecordType.AccessControlEntry))
        {
            throw new MetadataFormatException($"Unsupported version {version} of metadata record {type}.");
        }

        var body = new KafkaReader(batch.Slice(reader.Position, length));
        reader.Skip(length);
        MetadataRecord record = type switch
        {
            MetadataRecordType.RegisterBroker => RegisterBrokerRecord.Read(ref body),
            MetadataRecordType.UnregisterBroker => UnregisterBrokerRecord.Read(ref body),
            MetadataRecordType.Topic => TopicRecord.Read(ref body),
            MetadataRecordType.Partition => PartitionRecord.Read(ref body, version),
            MetadataRecordType.Config => ConfigRecord.Read(ref body),
            MetadataRecordType.PartitionChange => PartitionChangeRecord.Read(ref body, version),
            MetadataRecordType.FenceBroker => FenceBrokerRecord.Read(ref body),
            MetadataRecordType.UnfenceBroker => UnfenceBrokerRecord.Read(ref body),
            MetadataRecordType.RemoveTopic => RemoveTopicRecord.Read(ref body),
            MetadataRecordType.ProducerIds => ProducerIdsRecord.Read(ref body),
            MetadataRecordType.UserScramCredential => UserScramCredentialRecord.Read(ref body),
            MetadataRecordType.RemoveUserScramCredential => RemoveUserScramCredentialRecord.Read(ref body),
            MetadataRecordType.ClientQuota => ClientQuotaRecord.Read(ref body),
            MetadataRecordType.AccessControlEntry => AccessControlEntryRecord.Read(ref body, version),
            MetadataRecordType.RemoveAccessControlEntry => RemoveAccessControlEntryRecord.Read(ref body),
            MetadataRecordType.BrokerRegistrationChange => BrokerRegistrationChangeRecord.Read(ref body),
            _ => throw new MetadataFormatException($"Unknown metadata record type {(short)type}."),
        };

        if (body.Remaining != 0)
        {
            throw new MetadataFormatException($"{body.Remaining} unread bytes in the body of metadata record {type}.");
        }

        return record;
    }

    internal static void WriteInt32Array(ref KafkaWriter writer, ImmutableArray<int>? values)
    {
        if (values is not { } array)
        {
            writer.WriteArrayLength(-1, compact: true);
            return;
        }

        var items = array.IsDefault ? [] : array;
        writer.WriteArrayLength(items.Length, compact: true);
        foreach (var item in items)
        {
            writer.WriteInt32(item);
        }
    }

    internal static ImmutableArray<int>? ReadInt32Array(ref KafkaReader reader)
    {
        var count = reader.ReadArrayLength(compact: true);
        if (count < 0)
        {
            return null;
        }

        if (count > reader.Remaining / 4)
        {
            throw new MetadataFormatException($"Array of {count} int32 with {reader.Remaining} bytes left.");
        }

        var builder = ImmutableArray.CreateBuilder<int>(count);
        for (var i = 0; i < count; i++)
        {
            builder.Add(reader.ReadInt32());
        }

        return builder.MoveToImmutable();
    }
}

/// <summary>Metadata bytes (a record, a batch, a snapshot) that cannot be decoded.</summary>
public sealed class MetadataFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MetadataFormatException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public MetadataFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public MetadataFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
