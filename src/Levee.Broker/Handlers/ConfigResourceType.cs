using Levee.Broker.Requests;
using Levee.Broker.Security;
using Levee.Protocol;

namespace Levee.Broker.Handlers;

/// <summary>Kafka's config resource types (DescribeConfigs, AlterConfigs).</summary>
internal enum ConfigResourceType : sbyte
{
    Topic = 2,
    Broker = 4,
    BrokerLogger = 8,
}

/// <summary>What Kafka checks for a config resource: the operation on the topic, or on the cluster for a broker's configs.</summary>
internal static class ConfigResourceAuthorization
{
    /// <summary>The error for a denied <paramref name="operation"/> on the config resource, or NONE (an unknown type is left to the handler).</summary>
    public static ErrorCode Check(this RequestAuthorizer authorizer, RequestContext context, AclOperation operation, sbyte resourceType, string resourceName) =>
        (ConfigResourceType)resourceType switch
        {
            ConfigResourceType.Topic when !authorizer.Authorize(context, operation, AclResourceType.Topic, resourceName) => ErrorCode.TopicAuthorizationFailed,
            ConfigResourceType.Broker or ConfigResourceType.BrokerLogger when !authorizer.AuthorizeCluster(context, operation) => ErrorCode.ClusterAuthorizationFailed,
            _ => ErrorCode.None,
        };
}
