using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>
/// AlterClientQuotas (v0-v1): sets and removes client quotas of user, client-id and ip entities, each entry answered
/// on its own (INVALID_REQUEST with Kafka's message for a malformed entity, key or value; then nothing of that entry
/// applies). <c>validate_only</c> checks without committing. Decided by the controller, which commits the valid
/// entries as one batch; another broker forwards the request.
/// </summary>
[AuthorizeRequest(AclOperation.AlterConfigs, AclResourceType.Cluster)]
public sealed class AlterClientQuotasHandler(ReplicaManager replicas, ControllerService controller) : ApiHandler<AlterClientQuotasRequest, AlterClientQuotasResponse>
{
    /// <inheritdoc />
    public override ApiKey Key => ApiKey.AlterClientQuotas;

    /// <inheritdoc />
    public override short MinVersion => 0;

    /// <inheritdoc />
    public override short MaxVersion => 1;

    /// <inheritdoc />
    protected override AlterClientQuotasRequest Read(ref KafkaReader reader, short version) => AlterClientQuotasRequest.Read(ref reader, version);

    /// <inheritdoc />
    protected override void Write(AlterClientQuotasResponse response, ref KafkaWriter writer, short version) => response.Write(ref writer, version);

    /// <inheritdoc />
    protected override async ValueTask<AlterClientQuotasResponse?> HandleAsync(RequestContext context, AlterClientQuotasRequest request)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(request);
        if (!controller.IsActive)
        {
            return await replicas.ForwardToControllerAsync<AlterClientQuotasRequest, AlterClientQuotasResponse>(Key, context.ApiVersion, request, context.Aborted).ConfigureAwait(false)
                ?? ErrorResponse(request, ErrorCode.NotController, "No active controller is reachable right now; retry.");
        }

        var problems = new string?[request.Entries.Count];
        var records = new List<MetadataRecord>();
        var entities = new HashSet<ClientQuotaEntity>();
        for (var i = 0; i < request.Entries.Count; i++)
        {
            var entry = request.Entries[i];
            var (entity, problem) = ClientQuotaControl.ParseEntity(entry.Entity.Select(e => (e.EntityType, e.EntityName)));
            if (problem is null && !entities.Add(entity))
            {
                problem = $"Entity {entity} appears more than once in the request.";
            }

            if (problem is null)
            {
                var (altered, invalid) = ClientQuotaControl.Alter(entity, [.. entry.Ops.Select(o => new ClientQuotaOp(o.Key, o.Value, o.Remove))]);
                problem = invalid;
                records.AddRange(altered);
            }

            problems[i] = problem;
        }

        var decision = request.ValidateOnly || records.Count == 0
            ? Decision.Commit([])
            : await controller.DecideAsync(_ => Decision.Commit(records), context.Aborted).ConfigureAwait(false);
        var response = new AlterClientQuotasResponse();
        for (var i = 0; i < request.Entries.Count; i++)
        {
            var (error, message) = problems[i] is { } problem ? (ErrorCode.InvalidRequest, problem) : (decision.Error, decision.Message);
            response.Entries.Add(Entry(request.Entries[i], error, error == ErrorCode.None ? null : message));
        }

        return response;
    }

    /// <inheritdoc />
    protected override AlterClientQuotasResponse? ErrorResponse(AlterClientQuotasRequest request, ErrorCode error, string? message)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new AlterClientQuotasResponse();
        response.Entries.AddRange(request.Entries.Select(e => Entry(e, error, message)));
        return response;
    }

    private static AlterClientQuotasResponse.EntryData Entry(AlterClientQuotasRequest.EntryData entry, ErrorCode error, string? message)
    {
        var result = new AlterClientQuotasResponse.EntryData { ErrorCode = (short)error, ErrorMessage = message };
        result.Entity.AddRange(entry.Entity.Select(e => new AlterClientQuotasResponse.EntityData { EntityType = e.EntityType, EntityName = e.EntityName }));
        return result;
    }
}
