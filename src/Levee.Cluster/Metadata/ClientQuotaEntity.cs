using System.Text;

namespace Levee.Cluster.Metadata;

/// <summary>
/// A client quota entity as Kafka names one (ClientQuotaEntity): some of the types <c>user</c>, <c>client-id</c> and
/// <c>ip</c>, each with a name or as the type's default. A part that is null is absent from the entity; a part
/// whose <see cref="QuotaEntityName.IsDefault"/> is set is the default entity of its type.
/// </summary>
/// <param name="User">The user part.</param>
/// <param name="ClientId">The client-id part.</param>
/// <param name="Ip">The ip part.</param>
public readonly record struct ClientQuotaEntity(QuotaEntityName? User, QuotaEntityName? ClientId, QuotaEntityName? Ip) : IComparable<ClientQuotaEntity>
{
    /// <summary>Kafka's entity type name of users.</summary>
    public const string UserType = "user";

    /// <summary>Kafka's entity type name of client ids.</summary>
    public const string ClientIdType = "client-id";

    /// <summary>Kafka's entity type name of IP addresses.</summary>
    public const string IpType = "ip";

    /// <summary>The entity as Kafka shows it, e.g. <c>user=alice, client-id=&lt;default&gt;</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        Append(text, UserType, User);
        Append(text, ClientIdType, ClientId);
        Append(text, IpType, Ip);
        return text.ToString();
    }

    /// <summary>The entity's parts as (type, name) pairs in Kafka's order, a null name for a default.</summary>
    public IEnumerable<(string Type, string? Name)> Parts()
    {
        if (User is { } user)
        {
            yield return (UserType, user.Name);
        }

        if (ClientId is { } clientId)
        {
            yield return (ClientIdType, clientId.Name);
        }

        if (Ip is { } ip)
        {
            yield return (IpType, ip.Name);
        }
    }

    /// <inheritdoc />
    public int CompareTo(ClientQuotaEntity other)
    {
        var byUser = Compare(User, other.User);
        if (byUser != 0)
        {
            return byUser;
        }

        var byClient = Compare(ClientId, other.ClientId);
        return byClient != 0 ? byClient : Compare(Ip, other.Ip);
    }

    /// <summary>Compares entities.</summary>
    public static bool operator <(ClientQuotaEntity left, ClientQuotaEntity right) => left.CompareTo(right) < 0;

    /// <summary>Compares entities.</summary>
    public static bool operator >(ClientQuotaEntity left, ClientQuotaEntity right) => left.CompareTo(right) > 0;

    /// <summary>Compares entities.</summary>
    public static bool operator <=(ClientQuotaEntity left, ClientQuotaEntity right) => left.CompareTo(right) <= 0;

    /// <summary>Compares entities.</summary>
    public static bool operator >=(ClientQuotaEntity left, ClientQuotaEntity right) => left.CompareTo(right) >= 0;

    private static int Compare(QuotaEntityName? left, QuotaEntityName? right) => (left, right) switch
    {
        (null, null) => 0,
        (null, _) => -1,
        (_, null) => 1,
        ({ } l, { } r) => l.IsDefault != r.IsDefault ? (l.IsDefault ? -1 : 1) : string.CompareOrdinal(l.Name, r.Name),
    };

    private static void Append(StringBuilder text, string type, QuotaEntityName? part)
    {
        if (part is not { } name)
        {
            return;
        }

        if (text.Length > 0)
        {
            text.Append(", ");
        }

        text.Append(type).Append('=').Append(name.IsDefault ? "<default>" : name.Name);
    }
}

/// <summary>The name of one part of a quota entity: a name, or the default of its type (<see cref="Name"/> null).</summary>
/// <param name="Name">The name; null for the default entity.</param>
public readonly record struct QuotaEntityName(string? Name)
{
    /// <summary>The default entity of a type.</summary>
    public static QuotaEntityName Default => new(null);

    /// <summary>Whether this is the default entity of its type.</summary>
    public bool IsDefault => Name is null;
}
