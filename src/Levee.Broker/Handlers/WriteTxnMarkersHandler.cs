using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Transactions;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Storage;

namespace Levee.Broker.Handlers;

/// <summary>
/// WriteTxnMarkers (v1; v0 was removed in Kafka 4.0, KIP-896): a transaction coordinator asks this broker, as
/// leader, to end a producer's transaction on some of its partitions with COMMIT or ABORT markers. CLUSTER_ACTION
/// on the cluster: brokers (and operators' abort tools) only. Each partition is answered once its marker is
/// replicated to the ISR.
/// </summary>
[AuthorizeRequest(AclOperation.ClusterAction, AclResourceType.Cluster)]
public sealed class WriteTxnMarkersHandler(TransactionMarkerChannel markers) : ApiHandler<WriteTxnMarkersRequest, WriteTxnMarkersResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.WriteTxnMarkers;

    /// <inheritdoc />
    public override short MinVersion => 1;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override WriteTxnMarkersRequest Read(ref KafkaReader reader, short version) => WriteTxnMarkersRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(WriteTxnMarkersResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<WriteTxnMarkersResponse?> HandleAsync(RequestContext context, WriteTxnMarkersRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        var answers = await Task.WhenAll(request.Markers.Select(marker => markers.WriteLocalAsync(
            marker.ProducerId,
            marker.ProducerEpoch,
            marker.TransactionResult,
            marker.CoordinatorEpoch,
            [.. marker.Topics.SelectMany(t => t.PartitionIndexes.Select(p => new TopicPartition(t.Name, p)))],
            context.Aborted))).ConfigureAwait(false);
        var response = new WriteTxnMarkersResponse();
        for (var i = 0; i < request.Markers.Count; i++)
        {
            response.Markers.Add(new WriteTxnMarkersResponse.WritableTxnMarkerResult
            {
                ProducerId = request.Markers[i].ProducerId,
                Topics = [.. answers[i].GroupBy(a => a.Partition.Topic, StringComparer.Ordinal).Select(t => new WriteTxnMarkersResponse.WritableTxnMarkerTopicResult
                {
                    Name = t.Key,
                    Partitions = [.. t.Select(a => new WriteTxnMarkersResponse.WritableTxnMarkerPartitionResult { PartitionIndex = a.Partition.Partition, ErrorCode = (short)a.Error })],
                })],
            });
        }

        return response;
    }

    /// <inheritdoc />
    protected override WriteTxnMarkersResponse? ErrorResponse(WriteTxnMarkersRequest request, ErrorCode error, string? message) =>
        new()
        {
            Markers =
            [
                .. request.Markers.Select(m => new WriteTxnMarkersResponse.WritableTxnMarkerResult
                {
                    ProducerId = m.ProducerId,
                    Topics = [.. m.Topics.Select(t => new WriteTxnMarkersResponse.WritableTxnMarkerTopicResult { Name = t.Name, Partitions = [.. t.PartitionIndexes.Select(p => new WriteTxnMarkersResponse.WritableTxnMarkerPartitionResult { PartitionIndex = p, ErrorCode = (short)error })] })],
                }),
            ],
        };
}
