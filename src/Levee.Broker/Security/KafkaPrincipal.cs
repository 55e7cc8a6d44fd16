namespace Levee.Broker.Security;

/// <summary>
/// Who sent a request, in Kafka's form <c>Type:Name</c> (<c>User:alice</c>). A PLAINTEXT connection is
/// <see cref="Anonymous"/>, as in Kafka; authenticated listeners (TLS, SASL) will name the user.
/// </summary>
/// <param name="Type">The principal type, <c>User</c> for every principal Kafka's own authenticators build.</param>
/// <param name="Name">The name within the type.</param>
public sealed record KafkaPrincipal(string Type, string Name)
{
    /// <summary>The principal of an unauthenticated connection: <c>User:ANONYMOUS</c>.</summary>
    public static KafkaPrincipal Anonymous { get; } = new("User", "ANONYMOUS");

    /// <inheritdoc />
    public override string ToString() => $"{Type}:{Name}";
}
