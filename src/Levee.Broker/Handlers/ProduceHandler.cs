using System.Globalization;
using System.Runtime.InteropServices;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Handlers;

/// <summary>
/// Produce (v3-v11; v0-v2 are listed, as Kafka 4 lists them because librdkafka reads the range, and
/// answered with UNSUPPORTED_VERSION since they carry the old message formats). Each partition's
/// batches are validated in place (sizes, CRC-32C, record count, codec, timestamps) and appended as
/// received, with only the base offset and leader epoch written into their headers. Nothing of an
/// invalid partition payload is written. acks=0 gets no response, as in Kafka.
/// </summary>
public sealed partial class ProduceHandler(ReplicaManager replicas, TimeProvider time, ILogger<ProduceHandler> logger) : ApiHandler<ProduceRequest, ProduceResponse>
{
    private const short FirstRecordBatchVersion = 3;

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.Produce;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 11;

    /// <inheritdoc />
    protected override ProduceRequest Read(ref KafkaReader reader, short version) => ProduceRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(ProduceResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<ProduceResponse?> HandleAsync(RequestContext context, ProduceRequest request)
    {
        var response = new ProduceResponse();
        var acksValid = request.Acks is 0 or 1 or -1;
        foreach (var topicData in request.TopicData)
        {
            var topicResponse = new ProduceResponse.TopicProduceResponse { Name = topicData.Name };
            foreach (var partitionData in topicData.PartitionData)
            {
                var partitionResponse = new ProduceResponse.PartitionProduceResponse { Index = partitionData.Index, BaseOffset = -1 };
                if (context.ApiVersion < FirstRecordBatchVersion)
                {
                    Fail(partitionResponse, ErrorCode.UnsupportedVersion, $"Produce v{context.ApiVersion} carries message format v0/v1, which Kafka 4 and Levee no longer accept.");
                }
                else if (!acksValid)
                {
                    Fail(partitionResponse, ErrorCode.InvalidRequiredAcks, $"acks must be 0, 1 or -1, not {request.Acks}.");
                }
                else
                {
                    AppendPartition(topicData.Name, partitionData, request.Acks, partitionResponse);
                }

                topicResponse.PartitionResponses.Add(partitionResponse);
            }

            response.Responses.Add(topicResponse);
        }

        return ValueTask.FromResult(request.Acks == 0 ? null : response);
    }

    private void AppendPartition(string topicName, ProduceRequest.PartitionProduceData data, short acks, ProduceResponse.PartitionProduceResponse result)
    {
        if (!replicas.Topics.TryGet(topicName, out var topic) || !replicas.TryGetPartition(topicName, data.Index, out var partition))
        {
            Fail(result, ErrorCode.UnknownTopicOrPartition, "This server does not host this topic-partition.");
            return;
        }

        if (data.Records is not { Length: > 0 } records)
        {
            Fail(result, ErrorCode.CorruptMessage, "The produce request has no record batch.");
            return;
        }

        if (acks == -1)
        {
            var minIsr = int.Parse(replicas.ConfigValue(topic, "min.insync.replicas"), CultureInfo.InvariantCulture);
            if (minIsr > 1)
            {
                Fail(result, ErrorCode.NotEnoughReplicas, $"The size of the current ISR (1) is insufficient to satisfy the min.isr requirement of {minIsr} for partition {partition.Id}.");
                return;
            }
        }

        var logAppendTime = replicas.ConfigValue(topic, "message.timestamp.type") == "LogAppendTime";
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var options = new ValidationOptions
        {
            MaxMessageBytes = int.Parse(replicas.ConfigValue(topic, "max.message.bytes"), CultureInfo.InvariantCulture),
            TimestampType = logAppendTime ? TimestampType.LogAppendTime : TimestampType.CreateTime,
            NowMs = now,
            MaxTimestampBeforeMs = long.Parse(replicas.ConfigValue(topic, "message.timestamp.before.max.ms"), CultureInfo.InvariantCulture),
            MaxTimestampAfterMs = long.Parse(replicas.ConfigValue(topic, "message.timestamp.after.max.ms"), CultureInfo.InvariantCulture),
        };

        // The request frame is a pooled buffer owned by this connection: patching offsets in place is safe.
        var bytes = MemoryMarshal.AsMemory(records).Span;
        var validation = RecordBatchValidator.Validate(bytes, options);
        if (validation.ErrorCode != ErrorCode.None)
        {
            LogRejected(partition.Id.ToString(), validation.ErrorCode, validation.ErrorMessage);
            Fail(result, validation.ErrorCode, validation.ErrorMessage);
            return;
        }

        try
        {
            // Idempotent producers: a retry of a batch already written gets NONE and the original offsets (Kafka's
            // answer); out-of-order or fenced batches throw ProducerStateException and nothing is written.
            var info = partition.Append(bytes, logAppendTime);
            result.BaseOffset = info.FirstOffset;
            result.LogAppendTimeMs = info.LogAppendTime;
            result.LogStartOffset = partition.Log.LogStartOffset;
        }
        catch (ProducerStateException ex)
        {
            LogRejected(partition.Id.ToString(), ex.ErrorCode, ex.Message);
            Fail(result, ex.ErrorCode, ex.Message);
        }
        catch (IOException ex)
        {
            LogStorageError(partition.Id.ToString(), ex);
            Fail(result, ErrorCode.KafkaStorageError, "Disk error when trying to access the log.");
        }
    }

    private static void Fail(ProduceResponse.PartitionProduceResponse result, ErrorCode error, string? message)
    {
        result.ErrorCode = (short)error;
        result.ErrorMessage = message;
        result.BaseOffset = -1;
        result.LogStartOffset = -1;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Rejected produce to {Partition}: {Error} {Message}")]
    private partial void LogRejected(string partition, ErrorCode error, string? message);

    [LoggerMessage(Level = LogLevel.Error, Message = "Storage error appending to {Partition}")]
    private partial void LogStorageError(string partition, Exception exception);
}
