using System.Net;
using Levee.Broker.Requests;
using Levee.Broker.Tenants;
using Levee.Cluster.Quorum;
using Levee.Protocol;

namespace Levee.Broker.Security;

/// <summary>
/// Decides whether a request's principal may perform an operation on a resource: the seam asks it for what a
/// handler declares with <see cref="AuthorizeRequestAttribute"/>, handlers ask it per topic, group or transactional
/// id where Kafka does. CLUSTER_ACTION (what brokers do to each other: replica fetches, registration, heartbeats, ISR
/// changes, producer id blocks) is allowed only to a broker, that is a connection on the inter-broker listener, and
/// a broker may do anything (it forwards admin requests it has authorized itself, as Kafka's brokers, which run as
/// super users). For everyone else: with <c>authorizer.enabled</c> off every operation is allowed, as in Kafka
/// without an authorizer; with it on, <see cref="AclAuthorizer"/> decides over the ACLs of the current metadata image.
/// A tenant's principal is decided by its namespace and its tenant's own ACLs instead, authorizer or not
/// (<see cref="TenantMay"/>).
/// </summary>
public sealed class RequestAuthorizer(BrokerOptions options, MetadataQuorum quorum)
{
    private readonly AclAuthorizer _acls = new(options.SuperUsers, options.AllowEveryoneIfNoAclFound);

    /// <summary>Whether ACLs are checked (<c>authorizer.enabled</c>).</summary>
    public bool Enabled => options.AuthorizerEnabled;

    /// <summary>
    /// Whether the sender of <paramref name="context"/> may perform <paramref name="operation"/> on the resource named
    /// <paramref name="name"/>. With <paramref name="tenantScoped"/> (the ACL APIs), a tenant's principal acts on its
    /// own part of the cluster resource, its ACLs, as far as they allow it, instead of being refused.
    /// </summary>
    public bool Authorize(RequestContext context, AclOperation operation, AclResourceType resource, string name, bool tenantScoped = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Connection.IsBroker)
        {
            return true;
        }

        var principal = context.Connection.Principal.ToString();
        if (operation == AclOperation.ClusterAction)
        {
            // Broker-to-broker actions: brokers, and the operators named in super.users (Kafka's super users may do
            // anything, such as kafka-transactions.sh abort's WriteTxnMarkers), whether or not ACLs are checked.
            return context.Connection.Tenant is null && options.SuperUsers.Contains(principal);
        }

        var host = Host(context.Connection.RemoteEndPoint);
        if (context.Connection.Tenant is { } tenant)
        {
            return (tenantScoped || TenantMay(tenant, operation, resource, name))
                && tenant.Acls.Authorize(quorum.Current, principal, host, operation, resource, name);
        }

        return !options.AuthorizerEnabled || _acls.Authorize(quorum.Current, principal, host, operation, resource, name);
    }

    /// <summary>Whether the sender of <paramref name="context"/> may perform <paramref name="operation"/> on at least one resource of <paramref name="resource"/> (Kafka's authorizeByResourceType).</summary>
    public bool AuthorizeAny(RequestContext context, AclOperation operation, AclResourceType resource)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Connection.IsBroker)
        {
            return true;
        }

        var principal = context.Connection.Principal.ToString();
        var host = Host(context.Connection.RemoteEndPoint);
        if (context.Connection.Tenant is { } tenant)
        {
            return resource is AclResourceType.Topic or AclResourceType.Group or AclResourceType.TransactionalId
                ? tenant.Acls.AuthorizeByResourceType(quorum.Current, principal, host, operation, resource)
                : resource == AclResourceType.Cluster && Authorize(context, operation, resource, AclAuthorizer.ClusterResourceName);
        }

        return !options.AuthorizerEnabled || _acls.AuthorizeByResourceType(quorum.Current, principal, host, operation, resource);
    }

    /// <summary>Whether the sender of <paramref name="context"/> may perform <paramref name="operation"/> on the cluster.</summary>
    public bool AuthorizeCluster(RequestContext context, AclOperation operation) =>
        Authorize(context, operation, AclResourceType.Cluster, AclAuthorizer.ClusterResourceName);

    /// <summary>
    /// The names among <paramref name="names"/> on which the sender may perform <paramref name="operation"/>, each
    /// decided once (Kafka's filterByAuthorized): what handlers use to answer one error per denied resource.
    /// </summary>
    public AuthorizedNames Authorized(RequestContext context, AclOperation operation, AclResourceType resource, IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(names);
        return context.Connection.IsBroker || (!options.AuthorizerEnabled && context.Connection.Tenant is null)
            ? AuthorizedNames.Every
            : new AuthorizedNames([.. names.Distinct(StringComparer.Ordinal).Where(name => Authorize(context, operation, resource, name))]);
    }

    /// <summary>
    /// Kafka's authorized-operations field of Metadata, DescribeCluster and DescribeGroups: a bit (1 &lt;&lt; code) for each
    /// operation Kafka supports on a resource of <paramref name="resource"/> (AclEntry.supportedOperations) that the
    /// sender may perform on the resource named <paramref name="name"/>, decided as its requests are. Unlike Kafka
    /// without an authorizer, CLUSTER_ACTION is reported only to brokers: Levee serves it to no one else.
    /// </summary>
    public int AuthorizedOperations(RequestContext context, AclResourceType resource, string name)
    {
        var bits = 0;
        foreach (var operation in SupportedOperations(resource))
        {
            if (Authorize(context, operation, resource, name))
            {
                bits |= 1 << (int)operation;
            }
        }

        return bits;
    }

    /// <summary>The authorized operations on the cluster, or 0 without DESCRIBE on it (as Kafka answers).</summary>
    public int ClusterAuthorizedOperations(RequestContext context) =>
        AuthorizeCluster(context, AclOperation.Describe) ? AuthorizedOperations(context, AclResourceType.Cluster, AclAuthorizer.ClusterResourceName) : 0;

    private static AclOperation[] SupportedOperations(AclResourceType resource) => resource switch
    {
        AclResourceType.Topic => [AclOperation.Read, AclOperation.Write, AclOperation.Create, AclOperation.Describe, AclOperation.Delete, AclOperation.Alter, AclOperation.DescribeConfigs, AclOperation.AlterConfigs],
        AclResourceType.Group => [AclOperation.Read, AclOperation.Describe, AclOperation.Delete],
        AclResourceType.Cluster => [AclOperation.Create, AclOperation.ClusterAction, AclOperation.DescribeConfigs, AclOperation.AlterConfigs, AclOperation.IdempotentWrite, AclOperation.Alter, AclOperation.Describe],
        AclResourceType.TransactionalId => [AclOperation.Describe, AclOperation.Write],
        _ => [],
    };

    /// <summary>
    /// What a tenant's principal may do at most, whatever anyone's ACLs: anything on the topics, groups and
    /// transactional ids of its namespace (it owns them) and nothing on anyone else's; on the cluster only what its own
    /// clients need. Within that, the tenant's own ACLs decide (<see cref="TenantNamespace.Acls"/>); the operators'
    /// never apply to it.
    /// </summary>
    private static bool TenantMay(TenantNamespace tenant, AclOperation operation, AclResourceType resource, string name) => resource switch
    {
        AclResourceType.Topic or AclResourceType.Group or AclResourceType.TransactionalId => tenant.Owns(name),
        AclResourceType.Cluster => TenantMayOnCluster(operation),
        _ => false,
    };

    // Creating topics and idempotent producing; not describing or altering the cluster, its configs, ACLs or quotas.
    private static bool TenantMayOnCluster(AclOperation operation) => operation is AclOperation.Create or AclOperation.IdempotentWrite;

    /// <summary>Kafka's message for an authorization error, where a response carries one.</summary>
    public const string DeniedMessage = "Authorization failed.";

    /// <summary>The error Kafka answers when an operation on a resource of <paramref name="resource"/> is denied.</summary>
    public static ErrorCode DeniedError(AclResourceType resource) => resource switch
    {
        AclResourceType.Topic => ErrorCode.TopicAuthorizationFailed,
        AclResourceType.Group => ErrorCode.GroupAuthorizationFailed,
        AclResourceType.TransactionalId => ErrorCode.TransactionalIdAuthorizationFailed,
        _ => ErrorCode.ClusterAuthorizationFailed,
    };

    // ACL hosts are IP addresses as text, as Kafka matches them (InetAddress.getHostAddress).
    private static string Host(EndPoint? remote) => remote switch
    {
        IPEndPoint { Address.IsIPv4MappedToIPv6: true } ip => ip.Address.MapToIPv4().ToString(),
        IPEndPoint ip => ip.Address.ToString(),
        _ => "",
    };
}
