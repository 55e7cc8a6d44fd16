namespace Levee.Protocol.Records;

/// <summary>Compression codec ids of a RecordBatch's attributes (bits 0-2), as Kafka numbers them.</summary>
public enum CompressionType : byte
{
    /// <summary>No compression.</summary>
    None = 0,

    /// <summary>gzip.</summary>
    Gzip = 1,

    /// <summary>Snappy (xerial framing accepted on read).</summary>
    Snappy = 2,

    /// <summary>LZ4, Kafka's LZ4 frame format.</summary>
    Lz4 = 3,

    /// <summary>Zstandard (KIP-110).</summary>
    Zstd = 4,
}
