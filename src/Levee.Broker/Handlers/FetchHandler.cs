using System.Runtime.InteropServices;
using Levee.Broker.Partitions;
using Levee.Broker.Quotas;
using Levee.Broker.Replication;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Levee.Storage;

namespace Levee.Broker.Handlers;

/// <summary>
/// Fetch (v4-v17). Serves stored batches as they are on disk: a fetch that starts inside a batch
/// gets the whole batch, and the first partition with data gets at least one whole batch even past
/// the byte limits (KIP-74). min.bytes / max.wait are honoured by waiting on the partitions' append
/// signals with a timer, not a thread. Fetch sessions (KIP-227) take Kafka's documented fallback:
/// the broker answers session id 0, so clients keep sending full fetch requests. A read_committed consumer
/// (isolation level 1) reads below the last stable offset and gets the aborted transactions of what it reads.
/// </summary>
[AuthorizePerResource(AclOperation.Read, AclResourceType.Topic)]
[AuthorizePerResource(AclOperation.ClusterAction, AclResourceType.Cluster)]
public sealed class FetchHandler(ReplicaManager replicas, RequestAuthorizer authorizer, BrokerQuotas quotas, ReplicationThrottle throttle, TimeProvider time) : ApiHandler<FetchRequest, FetchResponse>
{
    private const sbyte ReadCommitted = 1;

    /// <summary>The first Fetch version of clients that read zstd (KIP-110).</summary>
    private const short FirstZstdVersion = 10;

    /// <inheritdoc />
    public override ApiKey Key => ApiKey.Fetch;

    /// <inheritdoc />
    public override short MinVersion => 4;

    /// <inheritdoc />
    public override short MaxVersion => 17;

    /// <inheritdoc />
    protected override FetchRequest Read(ref KafkaReader reader, short version) => FetchRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(FetchResponse response, ref KafkaWriter writer, short version)
    {
        try
        {
            response.Write(ref writer, version);
        }
        finally
        {
            ReleaseRecords(response);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask<FetchResponse?> HandleAsync(RequestContext context, FetchRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (request.SessionId != 0)
        {
            // We never hand out sessions, so a client naming one is out of step: Kafka's answer.
            return new FetchResponse { ErrorCode = (short)ErrorCode.FetchSessionIdNotFound, SessionId = 0 };
        }

        // A fetch naming a replica id reads past the high watermark and moves ISR bookkeeping: only a broker may
        // send one (CLUSTER_ACTION). Kafka answers anyone else TOPIC_AUTHORIZATION_FAILED on every partition.
        var replicaId = context.ApiVersion >= 15 ? request.ReplicaState.ReplicaId : request.ReplicaId;
        if (replicaId >= 0 && !authorizer.AuthorizeCluster(context, AclOperation.ClusterAction))
        {
            var refused = ErrorResponse(request, ErrorCode.TopicAuthorizationFailed, null)!;
            refused.ErrorCode = (short)ErrorCode.None;
            return refused;
        }

        // READ on each topic, decided once for the whole long poll; a denied topic's partitions are answered
        // TOPIC_AUTHORIZATION_FAILED (an unknown topic id stays UNKNOWN_TOPIC_ID, as in Kafka).
        var readable = authorizer.Authorized(context, AclOperation.Read, AclResourceType.Topic, request.Topics.Select(t => TopicName(context.ApiVersion, t)));

        // A consumer with a fetch quota reads at most what its quota allows over the measured windows at once (Kafka's
        // bound), so that a single response can always be served within it.
        var quota = replicaId < 0 ? quotas.Find(quotas.Fetch, context) : null;
        var maxBytes = quota is null ? request.MaxBytes : (int)Math.Clamp(quotas.Fetch.MaxValueInWindow(quota), 1, Math.Max(1, request.MaxBytes));
        var deadline = time.GetUtcNow().AddMilliseconds(Math.Max(0, request.MaxWaitMs));
        while (true)
        {
            var (response, bytes, hasError, waitOn) = ReadOnce(context.ApiVersion, request, maxBytes, readable);
            var remaining = deadline - time.GetUtcNow();
            if (hasError || bytes >= request.MinBytes || remaining <= TimeSpan.Zero || waitOn.Count == 0)
            {
                return CountedOut(replicaId, Metered(context, quota, response, bytes));
            }

            ReleaseRecords(response);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.Aborted);
            timeout.CancelAfter(remaining);
            try
            {
                using (context.Waiting())
                {
                    await Task.WhenAny(waitOn).WaitAsync(timeout.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!context.Aborted.IsCancellationRequested)
            {
                // max.wait.ms elapsed: answer with whatever is there now.
                var (last, lastBytes, _, _) = ReadOnce(context.ApiVersion, request, maxBytes, readable);
                return CountedOut(replicaId, Metered(context, quota, last, lastBytes));
            }
        }
    }

    // Kafka's fetch throttling: the response's bytes count against the consumer's quota; over it, the consumer gets an
    // empty response with the throttle time instead (what was counted is taken back), so no records wait in memory.
    private FetchResponse Metered(RequestContext context, AppliedQuota? quota, FetchResponse response, long bytes)
    {
        if (quota is null)
        {
            return response;
        }

        var throttle = (int)quotas.Fetch.Record(quota, bytes);
        if (throttle == 0)
        {
            return response;
        }

        quotas.Fetch.Record(quota, -bytes);
        ReleaseRecords(response);
        context.ThrottleTimeMs = Math.Max(context.ThrottleTimeMs, throttle);
        return new FetchResponse { SessionId = 0 };
    }

    // Bytes out per partition (/metrics) count the records of the response a consumer gets, once it is final (a long
    // poll reads several times; a throttled consumer gets none). Followers' fetches are replication, not bytes out.
    private FetchResponse CountedOut(int replicaId, FetchResponse response)
    {
        if (replicaId >= 0)
        {
            return response;
        }

        foreach (var topic in response.Responses)
        {
            foreach (var data in topic.Partitions)
            {
                if (data.Records is { Length: > 0 } records && replicas.TryGetPartition(topic.Topic, data.PartitionIndex, out var partition))
                {
                    partition.NoteBytesOut(records.Length);
                }
            }
        }

        return response;
    }

    private string TopicName(short version, FetchRequest.FetchTopic fetchTopic) =>
        version >= 13 && replicas.Topics.TryGet(fetchTopic.TopicId, out var topic) ? topic.Name : fetchTopic.Topic;

    private (FetchResponse Response, long Bytes, bool HasError, List<Task> WaitOn) ReadOnce(short version, FetchRequest request, int maxBytes, AuthorizedNames readable)
    {
        var response = new FetchResponse { SessionId = 0 };
        try
        {
            var (bytes, hasError, waitOn) = ReadInto(response, version, request, maxBytes, readable);
            return (response, bytes, hasError, waitOn);
        }
        catch
        {
            // Records already read hold segment files open: let them go before the error travels on.
            ReleaseRecords(response);
            throw;
        }
    }

    private (long Bytes, bool HasError, List<Task> WaitOn) ReadInto(FetchResponse response, short version, FetchRequest request, int maxBytes, AuthorizedNames readable)
    {
        var replicaId = version >= 15 ? request.ReplicaState.ReplicaId : request.ReplicaId;
        var waitOn = new List<Task>();
        long total = 0;
        var hasError = false;
        var responseBudget = maxBytes;
        foreach (var fetchTopic in request.Topics)
        {
            var name = fetchTopic.Topic;
            var known = version >= 13
                ? replicas.Topics.TryGet(fetchTopic.TopicId, out var topic)
                : replicas.Topics.TryGet(name, out topic);
            if (known)
            {
                name = topic.Name;
            }

            var topicResponse = new FetchResponse.FetchableTopicResponse { Topic = name, TopicId = fetchTopic.TopicId };
            response.Responses.Add(topicResponse);
            foreach (var fetchPartition in fetchTopic.Partitions)
            {
                var data = new FetchResponse.PartitionData { PartitionIndex = fetchPartition.Partition, Records = ReadOnlyMemory<byte>.Empty };
                topicResponse.Partitions.Add(data);
                // From v13 the topic is named by id: a replica of an earlier generation of the same name
                // (deleted and created again, not yet replaced here) is not the one asked for.
                Partition? partition = null;
                if ((known || version < 13) && !readable.Contains(name))
                {
                    data.ErrorCode = (short)ErrorCode.TopicAuthorizationFailed;
                    data.HighWatermark = -1;
                    hasError = true;
                    continue;
                }

                if (!known || !replicas.TryGetPartition(name, fetchPartition.Partition, out partition)
                    || (version >= 13 && partition.TopicId != fetchTopic.TopicId))
                {
                    data.ErrorCode = (short)(version < 13 ? ErrorCode.UnknownTopicOrPartition : !known ? ErrorCode.UnknownTopicId : partition is null ? ErrorCode.UnknownTopicOrPartition : ErrorCode.InconsistentTopicId);
                    data.HighWatermark = -1;
                    hasError = true;
                    continue;
                }

                if (!partition.IsLeader)
                {
                    data.ErrorCode = (short)ErrorCode.NotLeaderOrFollower;
                    var state = partition.State;
                    if (state.Leader >= 0)
                    {
                        data.CurrentLeader = new FetchResponse.LeaderIdAndEpoch { LeaderId = state.Leader, LeaderEpoch = state.LeaderEpoch };
                    }

                    hasError = true;
                    continue;
                }

                if (replicaId < 0 && version < FirstZstdVersion && partition.Policy.Compression == CompressionType.Zstd)
                {
                    // As Kafka: a consumer fetching with v9 or below predates zstd (KIP-110), and a topic whose
                    // compression.type is zstd is refused to it, whatever codec its batches hold.
                    data.ErrorCode = (short)ErrorCode.UnsupportedCompressionType;
                    data.HighWatermark = -1;
                    hasError = true;
                    continue;
                }

                var log = partition.Log;
                if (replicaId >= 0 && fetchPartition.LastFetchedEpoch >= 0)
                {
                    // KIP-320: a follower whose last epoch ends earlier here than where it fetches from has a
                    // divergent tail; it truncates to the end offset we name and fetches again.
                    var (epoch, endOffset) = log.EndOffsetForEpoch(fetchPartition.LastFetchedEpoch);
                    if (epoch != fetchPartition.LastFetchedEpoch || endOffset < fetchPartition.FetchOffset)
                    {
                        data.DivergingEpoch = new FetchResponse.EpochEndOffset { Epoch = epoch, EndOffset = endOffset };
                        data.HighWatermark = partition.HighWatermark;
                        data.LogStartOffset = log.LogStartOffset;
                        continue;
                    }
                }

                if (replicaId >= 0 && fetchPartition.FetchOffset >= log.LogStartOffset && fetchPartition.FetchOffset <= log.LogEndOffset)
                {
                    partition.RecordFollowerFetch(replicaId, fetchPartition.FetchOffset);
                }

                // The signals first, then the offsets they guard: an append (or a move of the high watermark) after
                // the offsets were read completes the signals waited on, never a successor the wait did not see.
                waitOn.Add(partition.NextAppend);
                if (replicaId < 0)
                {
                    // A consumer's readable range grows with the high watermark (and the last stable offset), which
                    // may move with no append here (followers catching up, a marker replicated).
                    waitOn.Add(partition.HighWatermarkMoved);
                }

                var highWatermark = partition.HighWatermark;
                var lastStable = Math.Min(log.LastStableOffset, highWatermark);

                // Followers read up to the log end: the high watermark moves only once they have the records. A
                // read_committed consumer reads up to the last stable offset (KIP-98), and learns of the aborted
                // transactions in what it gets; read_uncommitted gets null there, as from Kafka.
                var readCommitted = replicaId < 0 && request.IsolationLevel == ReadCommitted;
                var readLimit = replicaId >= 0 ? log.LogEndOffset : readCommitted ? lastStable : highWatermark;
                data.HighWatermark = highWatermark;
                data.LastStableOffset = lastStable;
                data.LogStartOffset = log.LogStartOffset;
                data.AbortedTransactions = readCommitted ? [] : null;
                var offset = fetchPartition.FetchOffset;
                if (offset < log.LogStartOffset || offset > log.LogEndOffset)
                {
                    data.ErrorCode = (short)ErrorCode.OffsetOutOfRange;
                    hasError = true;
                    continue;
                }

                if (offset >= readLimit)
                {
                    continue;
                }

                var limit = (int)Math.Min(fetchPartition.PartitionMaxBytes, Math.Max(0, responseBudget));

                // A follower catching up (not in the ISR) is served within the replication throttle (KIP-73).
                var throttled = replicaId >= 0 && !partition.State.Isr.Contains(replicaId);
                if (throttled && (limit = Math.Min(limit, throttle.Available())) == 0)
                {
                    continue;
                }

                FileRecords? records;
                try
                {
                    records = log.ReadRecords(offset, limit, readLimit, minOneBatch: total == 0);
                }
                catch (OffsetOutOfRangeException)
                {
                    // Retention or DeleteRecords moved the log start past the offset since the check above.
                    data.ErrorCode = (short)ErrorCode.OffsetOutOfRange;
                    data.LogStartOffset = log.LogStartOffset;
                    hasError = true;
                    continue;
                }

                if (records is null)
                {
                    continue;
                }

                // Not read yet: the connection reads the bytes from the segment straight into its send buffer
                // when it writes the response (FrameBuffer); until then the records hold the file open.
                data.Records = records.Memory;
                if (readCommitted)
                {
                    data.AbortedTransactions = [.. log.CollectAbortedTransactions(offset, records.NextOffset)
                        .Select(a => new FetchResponse.AbortedTransaction { ProducerId = a.ProducerId, FirstOffset = a.FirstOffset })];
                }

                if (throttled)
                {
                    throttle.Take(records.Length);
                }

                total += records.Length;
                responseBudget -= records.Length;
            }
        }

        return (total, hasError, waitOn);
    }

    /// <summary>Gives up the response's hold on the records it carries (written out by then, or never to be).</summary>
    private static void ReleaseRecords(FetchResponse response)
    {
        foreach (var topic in response.Responses)
        {
            foreach (var partition in topic.Partitions)
            {
                if (partition.Records is { Length: > 0 } records && MemoryMarshal.TryGetMemoryManager(records, out DeferredRecords? deferred))
                {
                    ((IDisposable)deferred).Dispose();
                    partition.Records = ReadOnlyMemory<byte>.Empty;
                }
            }
        }
    }

    /// <inheritdoc />
    protected override FetchResponse? ErrorResponse(FetchRequest request, ErrorCode error, string? message) =>
        new()
        {
            ErrorCode = (short)error,
            Responses =
            [
                .. request.Topics.Select(t => new FetchResponse.FetchableTopicResponse
                {
                    Topic = t.Topic,
                    TopicId = t.TopicId,
                    Partitions = [.. t.Partitions.Select(p => new FetchResponse.PartitionData { PartitionIndex = p.Partition, ErrorCode = (short)error, HighWatermark = -1, Records = ReadOnlyMemory<byte>.Empty })],
                }),
            ],
        };
}
