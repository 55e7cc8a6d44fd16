using Levee.Broker.Security;

namespace Levee.Broker.Handlers;

/// <summary>What the three ACL APIs share: Kafka's messages and the filter of their wire fields.</summary>
internal static class AclRequests
{
    /// <summary>Kafka's answer to an ACL request on a broker without an authorizer.</summary>
    public const string SecurityDisabledMessage = "No Authorizer is configured.";

    /// <summary>The answer when this broker is not the controller and none is reachable to forward to.</summary>
    public const string NoControllerMessage = "No active controller is reachable right now; retry.";

    /// <summary>The filter of a DescribeAcls request or a DeleteAcls filter, from its wire fields.</summary>
    public static AclFilter Filter(sbyte resourceType, string? resourceName, sbyte patternType, string? principal, string? host, sbyte operation, sbyte permissionType) =>
        new((AclResourceType)resourceType, resourceName, (AclPatternType)patternType, principal, host, (AclOperation)operation, (AclPermissionType)permissionType);
}
