using System.Buffers;
using System.Buffers.Binary;
using Levee.Protocol;
using Levee.Protocol.Framing;
using Levee.Protocol.Messages;
using Microsoft.AspNetCore.Connections;

namespace Levee.Commands.Bench;

/// <summary>
/// One client connection of the null broker. Framing and decoding are those of `levee serve` (KafkaFrame, the
/// request copied once into a pooled buffer, generated request and response types), so the comparison isolates
/// what Levee does between decoding a request and encoding its answer.
/// </summary>
internal sealed partial class NullBrokerConnectionHandler(NullBrokerState state) : ConnectionHandler
{
    private const int MaxFrameBytes = 100 * 1024 * 1024;
    private const int NodeId = 1;

    private static readonly (ApiKey Key, short Min, short Max)[] Served =
    [
        (ApiKey.Produce, 3, 11),
        (ApiKey.Fetch, 4, 17),
        (ApiKey.ListOffsets, 1, 10),
        (ApiKey.Metadata, 0, 12),
        (ApiKey.ApiVersions, 0, 4),
        (ApiKey.CreateTopics, 2, 7),
    ];

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var body = new ArrayBufferWriter<byte>(64 * 1024);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
                var buffer = result.Buffer;
                var close = false;
                var wrote = false;
                try
                {
                    while (true)
                    {
                        var status = KafkaFrame.TryRead(ref buffer, MaxFrameBytes, out var payload, out _);
                        if (status == FrameStatus.Incomplete)
                        {
                            break;
                        }

                        if (status == FrameStatus.Invalid || !TryHandle(payload, body, out var respond))
                        {
                            close = true;
                            break;
                        }

                        if (respond)
                        {
                            BinaryPrimitives.WriteInt32BigEndian(output.GetSpan(KafkaFrame.LengthPrefixSize), body.WrittenCount);
                            output.Advance(KafkaFrame.LengthPrefixSize);
                            output.Write(body.WrittenSpan);
                            wrote = true;
                        }
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (wrote && (await output.FlushAsync(connection.ConnectionClosed).ConfigureAwait(false)).IsCompleted)
                {
                    break;
                }

                if (close || result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away.
        }
        catch (ConnectionResetException)
        {
            // The client went away mid-request.
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
        }
    }

    private bool TryHandle(ReadOnlySequence<byte> payload, ArrayBufferWriter<byte> body, out bool respond)
    {
        respond = false;
        var length = (int)payload.Length;
        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            payload.CopyTo(rented);
            var frame = new ReadOnlyMemory<byte>(rented, 0, length);
            if (length < 8)
            {
                return false;
            }

            var key = (ApiKey)BinaryPrimitives.ReadInt16BigEndian(frame.Span);
            var version = BinaryPrimitives.ReadInt16BigEndian(frame.Span[2..]);
            var served = Array.FindIndex(Served, s => s.Key == key);
            if (served < 0 || (key != ApiKey.ApiVersions && (version < Served[served].Min || version > Served[served].Max)))
            {
                return false;
            }

            var reader = new KafkaReader(frame);
            var header = RequestHeader.Read(ref reader, ApiMessages.RequestHeaderVersion(key, version));
            body.ResetWrittenCount();
            var writer = new KafkaWriter(body);
            var responseVersion = key == ApiKey.ApiVersions && version > Served[served].Max ? (short)0 : version;
            new ResponseHeader { CorrelationId = header.CorrelationId }.Write(ref writer, ApiMessages.ResponseHeaderVersion(key, responseVersion));
            respond = key switch
            {
                ApiKey.ApiVersions => ApiVersions(ref writer, version),
                ApiKey.Metadata => Metadata(MetadataRequest.Read(ref reader, version), ref writer, version),
                ApiKey.CreateTopics => CreateTopics(CreateTopicsRequest.Read(ref reader, version), ref writer, version),
                ApiKey.Produce => Produce(ProduceRequest.Read(ref reader, version), ref writer, version),
                ApiKey.Fetch => Fetch(FetchRequest.Read(ref reader, version), ref writer, version),
                _ => ListOffsets(ListOffsetsRequest.Read(ref reader, version), ref writer, version),
            };
            return true;
        }
        catch (KafkaProtocolException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static bool ApiVersions(ref KafkaWriter writer, short version)
    {
        var response = new ApiVersionsResponse();
        foreach (var (key, min, max) in Served)
        {
            response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = (short)key, MinVersion = min, MaxVersion = max });
        }

        if (version > 4)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedVersion;
            version = 0;
        }

        response.Write(ref writer, version);
        return true;
    }

    private bool Metadata(MetadataRequest request, ref KafkaWriter writer, short version)
    {
        var response = new MetadataResponse { ClusterId = "levee-null-broker", ControllerId = NodeId };
        response.Brokers.Add(new MetadataResponse.MetadataResponseBroker { NodeId = NodeId, Host = state.Host, Port = state.Port });
        var topics = request.Topics is null || (version == 0 && request.Topics.Count == 0)
            ? state.Topics
            : request.Topics.Select(t => t.Name is null ? (state.TryGet(t.TopicId, out var byId) ? byId : null) : state.GetOrAdd(t.Name)).OfType<NullTopic>();
        foreach (var topic in topics)
        {
            var described = new MetadataResponse.MetadataResponseTopic { Name = topic.Name, TopicId = topic.Id };
            for (var i = 0; i < topic.Partitions; i++)
            {
                var partition = new MetadataResponse.MetadataResponsePartition { PartitionIndex = i, LeaderId = NodeId, LeaderEpoch = 0 };
                partition.ReplicaNodes.Add(NodeId);
                partition.IsrNodes.Add(NodeId);
                described.Partitions.Add(partition);
            }

            response.Topics.Add(described);
        }

        response.Write(ref writer, version);
        return true;
    }

    private bool CreateTopics(CreateTopicsRequest request, ref KafkaWriter writer, short version)
    {
        var response = new CreateTopicsResponse();
        foreach (var creatable in request.Topics)
        {
            var added = state.TryAdd(creatable.Name, creatable.NumPartitions, out var topic);
            response.Topics.Add(new CreateTopicsResponse.CreatableTopicResult
            {
                Name = topic.Name,
                TopicId = topic.Id,
                ErrorCode = (short)(added ? ErrorCode.None : ErrorCode.TopicAlreadyExists),
                ErrorMessage = null,
                NumPartitions = topic.Partitions,
                ReplicationFactor = 1,
            });
        }

        response.Write(ref writer, version);
        return true;
    }

    private bool Produce(ProduceRequest request, ref KafkaWriter writer, short version)
    {
        var response = new ProduceResponse();
        foreach (var data in request.TopicData)
        {
            var known = state.TryGet(data.Name, out var topic);
            var topicResponse = new ProduceResponse.TopicProduceResponse { Name = data.Name };
            foreach (var partition in data.PartitionData)
            {
                var answer = new ProduceResponse.PartitionProduceResponse { Index = partition.Index, BaseOffset = -1 };
                if (!known || partition.Index < 0 || partition.Index >= topic.Partitions)
                {
                    answer.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                }
                else
                {
                    var records = NullBrokerState.CountRecords(partition.Records.GetValueOrDefault().Span);
                    answer.BaseOffset = topic.Reserve(partition.Index, records);
                    answer.LogStartOffset = 0;
                }

                topicResponse.PartitionResponses.Add(answer);
            }

            response.Responses.Add(topicResponse);
        }

        if (request.Acks == 0)
        {
            return false;
        }

        response.Write(ref writer, version);
        return true;
    }

    private bool Fetch(FetchRequest request, ref KafkaWriter writer, short version)
    {
        var response = new FetchResponse();
        var rented = new List<byte[]>();
        try
        {
            long budget = request.MaxBytes;
            foreach (var fetchTopic in request.Topics)
            {
                var known = version >= 13 ? state.TryGet(fetchTopic.TopicId, out var topic) : state.TryGet(fetchTopic.Topic, out topic);
                var topicResponse = new FetchResponse.FetchableTopicResponse { Topic = known ? topic.Name : fetchTopic.Topic, TopicId = fetchTopic.TopicId };
                foreach (var fetchPartition in fetchTopic.Partitions)
                {
                    var data = new FetchResponse.PartitionData { PartitionIndex = fetchPartition.Partition, Records = ReadOnlyMemory<byte>.Empty };
                    topicResponse.Partitions.Add(data);
                    if (!known || fetchPartition.Partition < 0 || fetchPartition.Partition >= topic.Partitions)
                    {
                        data.ErrorCode = (short)(version >= 13 ? ErrorCode.UnknownTopicId : ErrorCode.UnknownTopicOrPartition);
                        data.HighWatermark = -1;
                        continue;
                    }

                    var offset = fetchPartition.FetchOffset;
                    data.HighWatermark = offset + state.FetchBatchRecords;
                    data.LastStableOffset = data.HighWatermark;
                    data.LogStartOffset = 0;
                    if (budget <= 0)
                    {
                        continue;
                    }

                    // A copy per partition, as a broker reading from its page cache into a pooled buffer makes.
                    var batch = ArrayPool<byte>.Shared.Rent(state.FetchBatch.Length);
                    rented.Add(batch);
                    state.FetchBatch.CopyTo(batch, 0);
                    BinaryPrimitives.WriteInt64BigEndian(batch, offset);
                    data.Records = new ReadOnlyMemory<byte>(batch, 0, state.FetchBatch.Length);
                    budget -= state.FetchBatch.Length;
                }

                response.Responses.Add(topicResponse);
            }

            response.Write(ref writer, version);
            return true;
        }
        finally
        {
            foreach (var batch in rented)
            {
                ArrayPool<byte>.Shared.Return(batch);
            }
        }
    }

    private bool ListOffsets(ListOffsetsRequest request, ref KafkaWriter writer, short version)
    {
        var response = new ListOffsetsResponse();
        foreach (var requested in request.Topics)
        {
            var known = state.TryGet(requested.Name, out var topic);
            var topicResponse = new ListOffsetsResponse.ListOffsetsTopicResponse { Name = requested.Name };
            foreach (var partition in requested.Partitions)
            {
                var answer = new ListOffsetsResponse.ListOffsetsPartitionResponse { PartitionIndex = partition.PartitionIndex, LeaderEpoch = 0 };
                if (!known || partition.PartitionIndex < 0 || partition.PartitionIndex >= topic.Partitions)
                {
                    answer.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                }
                else
                {
                    answer.Offset = partition.Timestamp == -1 ? topic.EndOffset(partition.PartitionIndex) : 0;
                }

                topicResponse.Partitions.Add(answer);
            }

            response.Topics.Add(topicResponse);
        }

        response.Write(ref writer, version);
        return true;
    }
}
