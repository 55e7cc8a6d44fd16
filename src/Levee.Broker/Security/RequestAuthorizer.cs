using Levee.Broker.Requests;
using Levee.Protocol;

namespace Levee.Broker.Security;

/// <summary>
/// Decides whether a request's principal may perform an operation on a resource. Until ACLs exist (issue 10,
/// item 4) every operation is allowed, as in Kafka without an authorizer, except CLUSTER_ACTION: what brokers do
/// to each other (replica fetches, registration, heartbeats, ISR changes, producer id blocks) is allowed only to a
/// broker, that is a connection on the inter-broker listener.
/// </summary>
public static class RequestAuthorizer
{
    /// <summary>Whether the sender of <paramref name="context"/> may perform <paramref name="operation"/> on a resource of <paramref name="resource"/>.</summary>
    public static bool Authorize(RequestContext context, AclOperation operation, AclResourceType resource)
    {
        ArgumentNullException.ThrowIfNull(context);
        return operation != AclOperation.ClusterAction || (resource == AclResourceType.Cluster && context.Connection.IsBroker);
    }

    /// <summary>The error Kafka answers when an operation on a resource of <paramref name="resource"/> is denied.</summary>
    public static ErrorCode DeniedError(AclResourceType resource) => resource switch
    {
        AclResourceType.Topic => ErrorCode.TopicAuthorizationFailed,
        AclResourceType.Group => ErrorCode.GroupAuthorizationFailed,
        AclResourceType.TransactionalId => ErrorCode.TransactionalIdAuthorizationFailed,
        _ => ErrorCode.ClusterAuthorizationFailed,
    };
}
