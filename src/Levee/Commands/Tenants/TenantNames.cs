using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Levee.Commands.Clusters;

namespace Levee.Commands.Tenants;

/// <summary>
/// The names of tenants and plans (one rule for both, the broker's: 1 to 32 characters, lowercase letters, digits
/// and '-', starting with a letter), and the credentials `levee tenants` makes for a tenant's clients.
/// </summary>
internal static partial class TenantNames
{
    /// <summary>The rule, as messages state it.</summary>
    public const string Rule = "1 to 32 characters: lowercase letters, digits and '-', starting with a letter";

    private const string UsernameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>Whether <paramref name="name"/> is a valid tenant or plan name.</summary>
    public static bool IsValid(string name) => NamePattern().IsMatch(name);

    /// <summary>Returns <paramref name="name"/> when it is valid.</summary>
    /// <param name="name">The name to check.</param>
    /// <param name="what">What it names, for the message: "tenant" or "plan".</param>
    /// <exception cref="ClusterCommandException">The name breaks the rule; the message says the rule.</exception>
    public static string Check(string name, string what) => IsValid(name)
        ? name
        : throw new ClusterCommandException($"'{name}' is not a valid {what} name ({Rule}).");

    /// <summary>A new user name for <paramref name="tenant"/>: the tenant's name, '-', and 6 random lowercase letters or digits.</summary>
    public static string NewUsername(string tenant) => $"{tenant}-{RandomNumberGenerator.GetString(UsernameAlphabet, 6)}";

    /// <summary>A new password: 32 random bytes, base64url (43 characters, no padding).</summary>
    public static string NewPassword() => System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    // \z, not $: $ also matches before a final newline.
    [GeneratedRegex(@"^[a-z][a-z0-9-]{0,31}\z")]
    private static partial Regex NamePattern();
}
