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
public sealed record ProducePolicy(int MaxMessageBytes, bool LogAppendTime, long MaxTimestampBeforeMs, long MaxTimestampAfterMs, int MinInsyncReplicas, bool RequireKeys = false);
