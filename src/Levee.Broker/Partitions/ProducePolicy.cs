using Levee.Protocol.Records;

namespace Levee.Broker.Partitions;

/// <summary>
/// The topic configs the produce path needs, parsed once when the metadata image changes rather
/// than from strings on every request.
/// </summary>
/// <param name="MaxMessageBytes">max.message.bytes.</param>
/// <param name="LogAppendTime">message.timestamp.type is LogAppendTime.</param>
/// <param name="MaxTimestampBeforeMs">message.timestamp.before.max.ms.</param>
/// <param name="MaxTimestampAfterMs">message.timestamp.after.max.ms.</param>
/// <param name="MinInsyncReplicas">min.insync.replicas.</param>
/// <param name="RequireKeys">cleanup.policy holds compact: a record without a key is refused with INVALID_RECORD, as Kafka does.</param>
/// <param name="Compression">
/// compression.type: the codec a batch is stored with (a batch with another codec is recompressed by the leader), or
/// null for <c>producer</c> (stored as produced).
/// </param>
/// <param name="CompressionLevel">The topic's compression.gzip.level, compression.lz4.level or compression.zstd.level for <paramref name="Compression"/>; null for codecs without levels.</param>
public sealed record ProducePolicy(int MaxMessageBytes, bool LogAppendTime, long MaxTimestampBeforeMs, long MaxTimestampAfterMs, int MinInsyncReplicas, bool RequireKeys = false, CompressionType? Compression = null, int? CompressionLevel = null);
