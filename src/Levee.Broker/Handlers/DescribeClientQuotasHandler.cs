using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// DescribeClientQuotas (v0-v1): the client quotas of the entities a filter selects, from this broker's metadata
/// image (Kafka's match types: exact name, default entity, any entity of a type; <c>strict</c> leaves out entities
/// with other parts). A malformed filter is INVALID_REQUEST with Kafka's message.
/// </summary>
[AuthorizeRequest(AclOperation.DescribeConfigs, AclResourceType.Cluster)]
public sealed class DescribeClientQuotasHandler(ReplicaManager replicas) : ApiHandler<DescribeClientQuotasRequest, DescribeClientQuotasResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.DescribeClientQuotas;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override DescribeClientQuotasRequest Read(ref KafkaReader reader, short version) => DescribeClientQuotasRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(DescribeClientQuotasResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override ValueTask<DescribeClientQuotasResponse?> HandleAsync(RequestContext context, DescribeClientQuotasRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var components = request.Components.Select(c => new QuotaFilterComponent(c.EntityType, (QuotaMatchType)c.MatchType, c.Match)).ToList();
        var (entries, problem) = ClientQuotaControl.Describe(replicas.Image, components, request.Strict);
        if (problem is not null)
        {
            return ValueTask.FromResult(ErrorResponse(request, ErrorCode.InvalidRequest, problem));
        }

        var response = new DescribeClientQuotasResponse { ErrorMessage = null, Entries = [] };
        foreach (var (entity, quotas) in entries)
        {
            var entry = new DescribeClientQuotasResponse.EntryData();
            entry.Entity.AddRange(entity.Parts().Select(p => new DescribeClientQuotasResponse.EntityData { EntityType = p.Type, EntityName = p.Name }));
            entry.Values.AddRange(quotas.Select(q => new DescribeClientQuotasResponse.ValueData { Key = q.Key, Value = q.Value }));
            response.Entries.Add(entry);
        }

        return ValueTask.FromResult<DescribeClientQuotasResponse?>(response);
    }

    /// <inheritdoc />
    protected override DescribeClientQuotasResponse? ErrorResponse(DescribeClientQuotasRequest request, ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message, Entries = null };
}
