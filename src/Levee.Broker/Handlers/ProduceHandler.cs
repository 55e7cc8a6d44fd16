using System.Runtime.InteropServices;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Levee.Storage;
using Levee.Storage.ProducerState;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Handlers;

/// <summary>
/// Produce (v3-v11; v0-v2 are listed, as Kafka 4 lists them because librdkafka reads the range, and
/// answered with UNSUPPORTED_VERSION since they carry the old message formats). Each partition's
/// batches are validated in place (sizes, CRC-32C, record count, codec, timestamps) and appended as
/// received, with only the base offset and leader epoch written into their headers, unless the
/// topic's compression.type asks for another codec than the batch's: then the batch is recompressed
/// first. Nothing of an invalid partition payload is written. acks=0 gets no response, as in Kafka.
/// </summary>
[AuthorizePerResource(AclOperation.Write, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.Write, AclResourceType.TransactionalId)]
public sealed partial class ProduceHandler(ReplicaManager replicas, TransactionCoordinator transactions, RequestAuthorizer authorizer, TimeProvider time, ILogger<ProduceHandler> logger) : ApiHandler<ProduceRequest, ProduceResponse>
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
    protected override async ValueTask<ProduceResponse?> HandleAsync(RequestContext context, ProduceRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = new ProduceResponse();
        var waits = new List<(Partition Partition, long Offset, ProduceResponse.PartitionProduceResponse Result)>();
        var acksValid = request.Acks is 0 or 1 or -1;

        // Kafka's checks: WRITE on the transactional id refuses the whole request, WRITE on each topic its partitions.
        var transactionDenied = request.TransactionalId is { } transactionalId && !authorizer.Authorize(context, AclOperation.Write, AclResourceType.TransactionalId, transactionalId);
        var writable = authorizer.Authorized(context, AclOperation.Write, AclResourceType.Topic, request.TopicData.Select(t => t.Name));
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
                else if (transactionDenied)
                {
                    Fail(partitionResponse, ErrorCode.TransactionalIdAuthorizationFailed, $"{context.Connection.Principal} may not write as transactional id '{request.TransactionalId}'.");
                }
                else if (!writable.Contains(topicData.Name))
                {
                    Fail(partitionResponse, ErrorCode.TopicAuthorizationFailed, null);
                }
                else if (!acksValid)
                {
                    Fail(partitionResponse, ErrorCode.InvalidRequiredAcks, $"acks must be 0, 1 or -1, not {request.Acks}.");
                }
                else if (request.TransactionalId is { } id && transactions.VerificationEnabled && await VerifyTransactionAsync(id, topicData.Name, partitionData, context.Aborted).ConfigureAwait(false) is { } refused)
                {
                    Fail(partitionResponse, refused.Error, refused.Message);
                }
                else
                {
                    var appended = AppendPartition(topicData.Name, partitionData, request.Acks, partitionResponse);
                    if (appended is { } wait && request.Acks == -1)
                    {
                        waits.Add((wait.Partition, wait.Offset, partitionResponse));
                    }
                }

                topicResponse.PartitionResponses.Add(partitionResponse);
            }

            response.Responses.Add(topicResponse);
        }

        if (waits.Count > 0)
        {
            // The records are in the log: nothing of the request's bytes is needed while the ISR catches up.
            context.ReleaseRequestBytes();
            using (context.Waiting())
            {
                await WaitForIsrAsync(waits, request.TimeoutMs, context.Aborted).ConfigureAwait(false);
            }
        }

        AddLeaderHints(response, context.Connection.Listener.Name);
        return request.Acks == 0 ? null : response;
    }

    /// <summary>
    /// KIP-890's server-side defence against hanging transactions: the first transactional batch of a producer on a
    /// partition (no transaction of its open here yet) is appended only if the coordinator has the partition in the
    /// producer's ongoing transaction. A late or stray batch, such as a retry landing after its transaction was
    /// aborted, would otherwise open a transaction no marker ever ends, holding the last stable offset back for good.
    /// Null when the batch may be appended; else the partition's error: INVALID_TXN_STATE when the partition is not in
    /// the transaction, INVALID_PRODUCER_EPOCH for a fenced producer, NOT_ENOUGH_REPLICAS (retriable) while the
    /// coordinator cannot answer, as Kafka maps them for Produce.
    /// </summary>
    private async Task<(ErrorCode Error, string Message)?> VerifyTransactionAsync(string transactionalId, string topic, ProduceRequest.PartitionProduceData data, CancellationToken cancellationToken)
    {
        if (data.Records is not { Length: >= RecordBatchHeader.Size } records || !replicas.TryGetPartition(topic, data.Index, out var partition) || !partition.IsLeader)
        {
            return null;
        }

        var (transactional, producerId, epoch) = Producer(records.Span);
        if (!transactional || producerId < 0 || partition.Log.HasOpenTransaction(producerId))
        {
            return null;
        }

        var error = await transactions.VerifyAnywhereAsync(transactionalId, producerId, epoch, new TopicPartition(topic, data.Index), cancellationToken).ConfigureAwait(false);
        return error switch
        {
            ErrorCode.None => null,
            ErrorCode.InvalidTxnState or ErrorCode.TransactionAbortable or ErrorCode.InvalidProducerIdMapping =>
                (ErrorCode.InvalidTxnState, $"{topic}-{data.Index} is not in the ongoing transaction of transactional id '{transactionalId}' (producer {producerId}, epoch {epoch}): add it first (AddPartitionsToTxn)."),
            ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch =>
                (ErrorCode.InvalidProducerEpoch, $"Producer {producerId} with epoch {epoch} is fenced for transactional id '{transactionalId}'."),
            _ => (ErrorCode.NotEnoughReplicas, $"The transaction coordinator of '{transactionalId}' could not verify the transaction ({error}); retry."),
        };
    }

    private static (bool Transactional, long ProducerId, short Epoch) Producer(ReadOnlySpan<byte> batch)
    {
        var header = new RecordBatchHeader(batch);
        return (header.IsTransactional, header.ProducerId, header.ProducerEpoch);
    }

    // acks=all: the answer waits until the ISR has the records (the high watermark passed them), or
    // until the request's timeout, which Kafka answers with REQUEST_TIMED_OUT.
    private static async Task WaitForIsrAsync(List<(Partition Partition, long Offset, ProduceResponse.PartitionProduceResponse Result)> waits, int timeoutMs, CancellationToken aborted)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        timeout.CancelAfter(Math.Max(0, timeoutMs));
        foreach (var (partition, offset, result) in waits)
        {
            try
            {
                await partition.WaitForHighWatermarkAsync(offset, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
            {
                Fail(result, ErrorCode.RequestTimedOut, $"The ISR of {partition.Id} did not acknowledge the records within {timeoutMs} ms.");
            }
            catch (InvalidOperationException)
            {
                Fail(result, ErrorCode.NotLeaderOrFollower, $"Leadership of {partition.Id} moved before the ISR acknowledged the records.");
            }
        }
    }

    // KIP-951: a NOT_LEADER_OR_FOLLOWER answer names the new leader and its endpoint (v10+), so the
    // client moves at once instead of refreshing metadata first.
    private void AddLeaderHints(ProduceResponse response, string listener)
    {
        var image = replicas.Image;
        var hinted = new HashSet<int>();
        foreach (var topic in response.Responses)
        {
            foreach (var partition in topic.PartitionResponses.Where(p => p.ErrorCode == (short)ErrorCode.NotLeaderOrFollower))
            {
                if (image.GetPartition(topic.Name, partition.Index) is { Leader: >= 0 } state)
                {
                    partition.CurrentLeader = new ProduceResponse.LeaderIdAndEpoch { LeaderId = state.Leader, LeaderEpoch = state.LeaderEpoch };
                    if (hinted.Add(state.Leader) && image.Brokers.TryGetValue(state.Leader, out var broker) && broker.EndPoint(listener) is { } endpoint)
                    {
                        response.NodeEndpoints.Add(new ProduceResponse.NodeEndpoint { NodeId = broker.Id, Host = endpoint.Host, Port = endpoint.Port, Rack = broker.Rack });
                    }
                }
            }
        }
    }

    private (Partition Partition, long Offset)? AppendPartition(string topicName, ProduceRequest.PartitionProduceData data, short acks, ProduceResponse.PartitionProduceResponse result)
    {
        if (!replicas.TryGetPartition(topicName, data.Index, out var partition) || !partition.IsLeader)
        {
            var known = replicas.Image.GetPartition(topicName, data.Index) is not null;
            Fail(result, known ? ErrorCode.NotLeaderOrFollower : ErrorCode.UnknownTopicOrPartition, known ? $"This broker is not the leader of {topicName}-{data.Index}." : "This server does not host this topic-partition.");
            return null;
        }

        var policy = partition.Policy;
        if (data.Records is not { Length: > 0 } records)
        {
            Fail(result, ErrorCode.CorruptMessage, "The produce request has no record batch.");
            return null;
        }

        if (acks == -1)
        {
            var minIsr = policy.MinInsyncReplicas;
            var isr = partition.State.Isr.Length;
            if (isr < minIsr)
            {
                Fail(result, ErrorCode.NotEnoughReplicas, $"The size of the current ISR ({isr}) is insufficient to satisfy the min.isr requirement of {minIsr} for partition {partition.Id}.");
                return null;
            }
        }

        var logAppendTime = policy.LogAppendTime;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var options = new ValidationOptions
        {
            MaxMessageBytes = policy.MaxMessageBytes,
            TimestampType = logAppendTime ? TimestampType.LogAppendTime : TimestampType.CreateTime,
            NowMs = now,
            MaxTimestampBeforeMs = policy.MaxTimestampBeforeMs,
            MaxTimestampAfterMs = policy.MaxTimestampAfterMs,
            RequireKeys = policy.RequireKeys,
        };

        // The request frame is a pooled buffer owned by this connection: patching offsets in place is safe.
        var bytes = MemoryMarshal.AsMemory(records).Span;
        var validation = RecordBatchValidator.Validate(bytes, options);
        if (validation.ErrorCode != ErrorCode.None)
        {
            LogRejected(partition.Id.ToString(), validation.ErrorCode, validation.ErrorMessage);
            Fail(result, validation.ErrorCode, validation.ErrorMessage);
            return null;
        }

        // compression.type other than producer: a batch with another codec is rewritten with the topic's, as Kafka's
        // LogValidator does, and appended as any other (offsets, leader epoch, LogAppendTime stamped into the new bytes).
        // A batch already in the topic's codec is stored as produced. Followers copy the leader's bytes as they are.
        using var recompressed = policy.Compression is { } codec && new RecordBatchHeader(bytes).Compression != codec ? new PooledBufferWriter() : null;
        if (recompressed is not null)
        {
            RecordBatchRewriter.Recompress(bytes, policy.Compression!.Value, policy.CompressionLevel, recompressed);
            bytes = recompressed.WrittenSpanMutable;

            // The codec changed the size: checked again, as UnifiedLog does after a recompression.
            if (policy.MaxMessageBytes > 0 && bytes.Length > policy.MaxMessageBytes)
            {
                var message = $"Message batch size is {bytes.Length} bytes in append to partition {partition.Id} which exceeds the maximum configured size of {policy.MaxMessageBytes}.";
                LogRejected(partition.Id.ToString(), ErrorCode.MessageTooLarge, message);
                Fail(result, ErrorCode.MessageTooLarge, message);
                return null;
            }
        }

        try
        {
            // Idempotent producers: a retry of a batch already written gets NONE and the original offsets (Kafka's
            // answer); out-of-order or fenced batches throw ProducerStateException and nothing is written.
            var info = partition.Append(bytes, logAppendTime);
            result.BaseOffset = info.FirstOffset;
            result.LogAppendTimeMs = info.LogAppendTime;
            result.LogStartOffset = partition.Log.LogStartOffset;
            return (partition, info.LastOffset + 1);
        }
        catch (ProducerStateException ex)
        {
            LogRejected(partition.Id.ToString(), ex.ErrorCode, ex.Message);
            Fail(result, ex.ErrorCode, ex.Message);
            return null;
        }
        catch (IOException ex)
        {
            // Retriable: the client retries, and the write is tried again each time, so it succeeds as soon as space
            // is freed. The partition's log says when its appends start failing and when they work again, not each
            // refusal: a producer retrying every 100 ms once logged a stack trace per attempt (issue 12).
            Fail(result, ErrorCode.KafkaStorageError, DiskSpace.IsOutOfSpace(ex)
                ? $"The log directory of {partition.Id} is full: produce is refused until space is freed."
                : "Disk error when trying to access the log.");
            return null;
        }
    }

    private static void Fail(ProduceResponse.PartitionProduceResponse result, ErrorCode error, string? message)
    {
        result.ErrorCode = (short)error;
        result.ErrorMessage = message;
        result.BaseOffset = -1;
        result.LogStartOffset = -1;
    }

    [LoggerMessage(EventName = "Rejected", Level = LogLevel.Information, Message = "Rejected produce to {Partition}: {Error} {Message}")]
    private partial void LogRejected(string partition, ErrorCode error, string? message);

    /// <inheritdoc />
    protected override ProduceResponse? ErrorResponse(ProduceRequest request, ErrorCode error, string? message) =>
        request.Acks == 0
        ? null // No response is expected; the client learns nothing either way, as with Kafka.
        : new()
        {
            Responses =
            [
                .. request.TopicData.Select(t => new ProduceResponse.TopicProduceResponse
                {
                    Name = t.Name,
                    PartitionResponses = [.. t.PartitionData.Select(p => new ProduceResponse.PartitionProduceResponse { Index = p.Index, ErrorCode = (short)error, BaseOffset = -1, LogAppendTimeMs = -1, LogStartOffset = -1, ErrorMessage = message })],
                }),
            ],
        };
}
