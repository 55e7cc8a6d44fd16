namespace Levee.Broker.Security;

/// <summary>
/// The names of a request's resources on which its principal may act, each decided once
/// (<see cref="RequestAuthorizer.Authorized"/>, Kafka's filterByAuthorized); <see cref="Every"/> when nothing is
/// checked, so the hot paths allocate nothing for it with the authorizer off.
/// </summary>
public sealed class AuthorizedNames
{
    private readonly HashSet<string>? _names;

    /// <summary>The names decided to be authorized.</summary>
    public AuthorizedNames(HashSet<string> names) => _names = names;

    private AuthorizedNames() => _names = null;

    /// <summary>Every name: nothing is checked (the authorizer is off, or the sender is a broker).</summary>
    public static AuthorizedNames Every { get; } = new();

    /// <summary>Whether the principal may act on the resource named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _names is null || _names.Contains(name);
}
