using Levee.Broker.Cluster;
using Levee.Broker.Partitions;
using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Broker.Tenants;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Handlers;

/// <summary>What the three ACL APIs share: Kafka's messages, the filter of their wire fields, and where a change is decided.</summary>
internal static class AclRequests
{
    /// <summary>Kafka's answer to an ACL request on a broker without an authorizer.</summary>
    public const string SecurityDisabledMessage = "No Authorizer is configured.";

    /// <summary>The filter of a DescribeAcls request or a DeleteAcls filter, from its wire fields.</summary>
    public static AclFilter Filter(sbyte resourceType, string? resourceName, sbyte patternType, string? principal, string? host, sbyte operation, sbyte permissionType) =>
        new((AclResourceType)resourceType, resourceName, (AclPatternType)patternType, principal, host, (AclOperation)operation, (AclPermissionType)permissionType);

    /// <summary>
    /// The stored principal of one a tenant names in an ACL or a filter: <c>User:*</c> is every principal of the
    /// tenant (<see cref="TenantNamespace.WildcardPrincipal"/>), a user of the tenant is itself; null (any) stays null.
    /// Any other principal is not the tenant's to name: the error message, with <paramref name="stored"/> unset.
    /// </summary>
    public static string? TenantPrincipal(MetadataImage image, TenantNamespace tenant, string? principal, out string? stored)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(tenant);
        stored = principal == "User:*" ? tenant.WildcardPrincipal : principal;
        if (principal is null || principal == "User:*"
            || (principal.StartsWith("User:", StringComparison.Ordinal) && image.Tenants.OfUser(principal["User:".Length..])?.Name == tenant.Tenant.Name))
        {
            return null;
        }

        stored = null;
        return $"{principal} is not a principal of this tenant: name one of its users (User:NAME) or User:*.";
    }
}

/// <summary>
/// Where CreateAcls and DeleteAcls are decided: refused with SECURITY_DISABLED without an authorizer (Kafka's answer;
/// a tenant's own ACLs always apply, so its requests are served), forwarded whole by a broker that is not the
/// controller, else decided by the controller (one pure decision over the image, committed through the quorum) and
/// answered per entry; a failed decision is every entry's error.
/// </summary>
internal sealed class AclChange(ControllerService controller, ReplicaManager replicas, RequestAuthorizer authorizer)
{
    private const string NoControllerMessage = "No active controller is reachable right now; retry.";

    public async Task<TResponse> RunAsync<TRequest, TResponse>(
        RequestContext context,
        ApiKey key,
        short version,
        TRequest request,
        Func<MetadataImage, AdminLimits, (Decision Decision, IReadOnlyList<AclResult> Results)> decide,
        Func<IReadOnlyList<AclResult>, TResponse> answer,
        Func<ErrorCode, string?, TResponse> fail)
        where TRequest : IKafkaMessage
        where TResponse : class, IKafkaMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(context);
        var cancellationToken = context.Aborted;
        if (!authorizer.Enabled && context.Connection.Tenant is null)
        {
            return fail(ErrorCode.SecurityDisabled, AclRequests.SecurityDisabledMessage);
        }

        if (!controller.IsActive)
        {
            return await replicas.ForwardToControllerAsync<TRequest, TResponse>(key, version, request, cancellationToken).ConfigureAwait(false)
                ?? fail(ErrorCode.NotController, NoControllerMessage);
        }

        IReadOnlyList<AclResult> results = [];
        var decision = await controller.DecideAsync(
            image =>
            {
                var (decided, answers) = decide(image, replicas.Limits);
                results = answers;
                return decided;
            },
            cancellationToken).ConfigureAwait(false);
        return decision.Error == ErrorCode.None ? answer(results) : fail(decision.Error, decision.Message);
    }
}
