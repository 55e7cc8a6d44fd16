namespace Levee.Broker.Security;

/// <summary>
/// What a handler's API needs authorized, declared on the handler class. Every handler carries exactly one kind
/// of declaration: the request pipeline refuses to start with a handler that has none, so a new API cannot
/// escape the authorization seam by being forgotten.
/// </summary>
public abstract class ApiAuthorizationAttribute : Attribute;

/// <summary>
/// The request as a whole needs <see cref="Operation"/> on <see cref="Resource"/>: the pipeline checks it before
/// the handler runs and, when denied, answers the API's error response with the resource's authorization error.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class AuthorizeRequestAttribute(AclOperation operation, AclResourceType resource) : ApiAuthorizationAttribute
{
    /// <summary>The operation needed.</summary>
    public AclOperation Operation { get; } = operation;

    /// <summary>The resource it is needed on (the cluster resource for <see cref="AclResourceType.Cluster"/>).</summary>
    public AclResourceType Resource { get; } = resource;

    /// <summary>
    /// Whether a tenant's principal may use the API on its own part of the resource (the ACL APIs: its own ACLs), as
    /// far as its tenant's ACLs allow it, instead of being refused a cluster operation its clients do not need.
    /// </summary>
    public bool TenantScoped { get; set; }
}

/// <summary>
/// Kafka authorizes <see cref="Operation"/> on each <see cref="Resource"/> the request names, inside the handler, so
/// that one denied topic or group gets its own error while the others are served. The pipeline lets the request
/// through; the handler asks <see cref="RequestAuthorizer"/> per resource.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class AuthorizePerResourceAttribute(AclOperation operation, AclResourceType resource) : ApiAuthorizationAttribute
{
    /// <summary>The operation Kafka checks.</summary>
    public AclOperation Operation { get; } = operation;

    /// <summary>The type of the resources named in the request.</summary>
    public AclResourceType Resource { get; } = resource;
}

/// <summary>Served to anyone who may connect, as Kafka serves it (ApiVersions: a client needs it before anything else).</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class NoAuthorizationAttribute : ApiAuthorizationAttribute;
