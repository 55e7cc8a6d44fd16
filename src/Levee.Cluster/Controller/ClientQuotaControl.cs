using System.Globalization;
using System.Net;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Controller;

/// <summary>One quota change of an AlterClientQuotas entry: set <see cref="Key"/> to <see cref="Value"/>, or remove it.</summary>
/// <param name="Key">The quota key.</param>
/// <param name="Value">The value to set.</param>
/// <param name="Remove">Whether the key is removed.</param>
public readonly record struct ClientQuotaOp(string Key, double Value, bool Remove);

/// <summary>How a DescribeClientQuotas component matches an entity's part of one type (Kafka's match types).</summary>
public enum QuotaMatchType : sbyte
{
    /// <summary>The part has exactly the given name.</summary>
    Exact = 0,

    /// <summary>The part is the type's default entity.</summary>
    Default = 1,

    /// <summary>The entity has a part of this type, named or default.</summary>
    Specified = 2,
}

/// <summary>One component of a DescribeClientQuotas filter.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="Match">How it matches.</param>
/// <param name="Name">The name, for <see cref="QuotaMatchType.Exact"/>.</param>
public readonly record struct QuotaFilterComponent(string EntityType, QuotaMatchType Match, string? Name);

/// <summary>
/// Kafka's client quota rules, as its controller applies them (ClientQuotaControlManager): which entities and keys
/// exist, which values are accepted, and which entities a DescribeClientQuotas filter selects. Pure: the handlers
/// call it and commit what it returns.
/// </summary>
public static class ClientQuotaControl
{
    /// <summary>Bytes per second a user or client id may produce, on each broker.</summary>
    public const string ProducerByteRate = "producer_byte_rate";

    /// <summary>Bytes per second a user or client id may fetch, on each broker.</summary>
    public const string ConsumerByteRate = "consumer_byte_rate";

    /// <summary>Percentage of one request handler thread's time a user or client id may use.</summary>
    public const string RequestPercentage = "request_percentage";

    /// <summary>Partitions per second a user or client id may create or delete (KIP-599).</summary>
    public const string ControllerMutationRate = "controller_mutation_rate";

    /// <summary>New connections per second from one IP address (KIP-612).</summary>
    public const string ConnectionCreationRate = "connection_creation_rate";

    private static readonly HashSet<string> ClientKeys = new(StringComparer.Ordinal) { ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate };
    private static readonly HashSet<string> IntegralKeys = new(StringComparer.Ordinal) { ProducerByteRate, ConsumerByteRate, ConnectionCreationRate };

    /// <summary>
    /// The entity named by the (type, name) pairs of a request, or Kafka's INVALID_REQUEST message: an empty entity,
    /// an unknown or repeated type, an ip that is no address, or a combination other than user, client-id, both, or ip.
    /// </summary>
    public static (ClientQuotaEntity Entity, string? Problem) ParseEntity(IEnumerable<(string Type, string? Name)> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        QuotaEntityName? user = null, clientId = null, ip = null;
        var any = false;
        foreach (var (type, name) in parts)
        {
            any = true;
            var value = new QuotaEntityName(name);
            switch (type)
            {
                case ClientQuotaEntity.UserType:
                    if (user is not null)
                    {
                        return (default, $"Duplicate user entity type in {Describe(parts)}.");
                    }

                    user = value;
                    break;
                case ClientQuotaEntity.ClientIdType:
                    if (clientId is not null)
                    {
                        return (default, $"Duplicate client-id entity type in {Describe(parts)}.");
                    }

                    clientId = value;
                    break;
                case ClientQuotaEntity.IpType:
                    if (ip is not null)
                    {
                        return (default, $"Duplicate ip entity type in {Describe(parts)}.");
                    }

                    if (name is not null && !IPAddress.TryParse(name, out _))
                    {
                        return (default, $"{name} is not a valid IP or resolvable host.");
                    }

                    ip = value;
                    break;
                default:
                    return (default, $"Unhandled client quota entity type: {type}");
            }
        }

        if (!any)
        {
            return (default, "Invalid empty client quota entity");
        }

        if (ip is not null && (user is not null || clientId is not null))
        {
            return (default, $"Invalid quota entity combination: {Describe(parts)}; an ip entity cannot be combined with a user or client-id.");
        }

        return (new ClientQuotaEntity(user, clientId, ip), null);
    }

    /// <summary>Kafka's INVALID_REQUEST message for a quota operation on <paramref name="entity"/>, or null when it is valid.</summary>
    public static string? CheckOp(ClientQuotaEntity entity, ClientQuotaOp op)
    {
        var valid = entity.Ip is not null ? op.Key == ConnectionCreationRate : ClientKeys.Contains(op.Key);
        if (!valid)
        {
            return $"Invalid configuration key {op.Key} for entity {entity}";
        }

        if (op.Remove)
        {
            return null;
        }

        if (!double.IsFinite(op.Value) || op.Value <= 0)
        {
            // Kafka takes 0 (block everything) and negative values here; a hosted plan has no use for either, and a
            // quota of 0 would throttle a client for ever: refused, with the reason.
            return $"Quota {op.Key} must be a positive number, not {op.Value.ToString(CultureInfo.InvariantCulture)}";
        }

        if (IntegralKeys.Contains(op.Key) && (op.Value > long.MaxValue || Math.Abs(op.Value - Math.Round(op.Value)) > 1e-6))
        {
            return $"Configuration {op.Key} must be a Long value";
        }

        return null;
    }

    /// <summary>
    /// The records that apply <paramref name="ops"/> to <paramref name="entity"/>, or Kafka's INVALID_REQUEST message
    /// for the first invalid one (then nothing of the entry applies) or a key named twice.
    /// </summary>
    public static (IReadOnlyList<MetadataRecord> Records, string? Problem) Alter(ClientQuotaEntity entity, IReadOnlyList<ClientQuotaOp> ops)
    {
        ArgumentNullException.ThrowIfNull(ops);
        var records = new List<MetadataRecord>(ops.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var op in ops)
        {
            if (!seen.Add(op.Key))
            {
                return ([], $"Duplicate quota key {op.Key} for entity {entity}");
            }

            if (CheckOp(entity, op) is { } problem)
            {
                return ([], problem);
            }

            records.Add(new ClientQuotaRecord(entity, op.Key, op.Remove ? 0 : op.Value, op.Remove));
        }

        return (records, null);
    }

    /// <summary>
    /// The entities of <paramref name="image"/> a DescribeClientQuotas filter selects, with their quotas: every component
    /// must match the entity's part of its type; with <paramref name="strict"/>, the entity may have no other part.
    /// Returns Kafka's INVALID_REQUEST message for a malformed filter.
    /// </summary>
    public static (IReadOnlyList<(ClientQuotaEntity Entity, IReadOnlyDictionary<string, double> Quotas)> Entries, string? Problem) Describe(
        MetadataImage image, IReadOnlyList<QuotaFilterComponent> components, bool strict)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(components);
        var types = new HashSet<string>(StringComparer.Ordinal);
        foreach (var component in components)
        {
            if (component.EntityType is not (ClientQuotaEntity.UserType or ClientQuotaEntity.ClientIdType or ClientQuotaEntity.IpType))
            {
                return ([], $"Custom entity type '{component.EntityType}' not supported");
            }

            if (!types.Add(component.EntityType))
            {
                return ([], $"Entity type {component.EntityType} cannot appear more than once in the filter.");
            }

            if (!Enum.IsDefined(component.Match) || (component.Match == QuotaMatchType.Exact && component.Name is null))
            {
                return ([], $"Invalid match for entity type {component.EntityType}.");
            }
        }

        var entries = new List<(ClientQuotaEntity, IReadOnlyDictionary<string, double>)>();
        foreach (var (entity, quotas) in image.ClientQuotas)
        {
            var parts = entity.Parts().ToDictionary(p => p.Type, p => p.Name, StringComparer.Ordinal);
            var matches = components.All(c => parts.TryGetValue(c.EntityType, out var name) && c.Match switch
            {
                QuotaMatchType.Exact => name == c.Name,
                QuotaMatchType.Default => name is null,
                _ => true,
            });
            if (matches && (!strict || parts.Count == components.Count))
            {
                entries.Add((entity, quotas));
            }
        }

        return (entries, null);
    }

    private static string Describe(IEnumerable<(string Type, string? Name)> parts) =>
        "{" + string.Join(", ", parts.Select(p => $"{p.Type}={p.Name ?? "<default>"}")) + "}";
}
