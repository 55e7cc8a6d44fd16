namespace Levee.Protocol.Messages;

/// <summary>
/// A generated Kafka message (request, response, header or data) that can be written in any of its versions.
/// </summary>
public interface IKafkaMessage
{
    /// <summary>Writes the message in <paramref name="version"/>; fields absent from that version are skipped.</summary>
    void Write(ref KafkaWriter writer, short version);
}

/// <summary>
/// A generated Kafka message that can also be read, so generic code (a handler base class, a round-trip
/// test) can call <c>TSelf.Read</c> without reflection.
/// </summary>
/// <typeparam name="TSelf">The message type itself.</typeparam>
public interface IKafkaMessage<TSelf> : IKafkaMessage
    where TSelf : IKafkaMessage<TSelf>
{
    /// <summary>Reads a message in <paramref name="version"/>; malformed input throws <see cref="KafkaProtocolException"/>.</summary>
    static abstract TSelf Read(ref KafkaReader reader, short version);
}

/// <summary>
/// A response that tells the client how long it was throttled (<c>ThrottleTimeMs</c>, KIP-219): the request pipeline
/// sets it for any API without knowing the response's type.
/// </summary>
public interface IThrottledResponse
{
    /// <summary>How long the client is throttled, in milliseconds; 0 when it is not.</summary>
    int ThrottleTimeMs { get; set; }
}

/// <summary>What a name in a message names, for mapping it into and out of a tenant's namespace.</summary>
public enum EntityKind
{
    /// <summary>A topic name.</summary>
    Topic,

    /// <summary>A consumer group id.</summary>
    Group,

    /// <summary>A transactional id.</summary>
    TransactionalId,
}

/// <summary>
/// Maps names one way: a tenant's names into the names the broker stores (a request), or back (a response).
/// </summary>
public interface IEntityNameMap
{
    /// <summary>The mapped name.</summary>
    string Map(EntityKind kind, string name);

    /// <summary>Whether a resource of that name is shown at all (a response lists no other namespace's resources).</summary>
    bool IsVisible(EntityKind kind, string name);

    /// <summary>An error message with every stored name in it mapped.</summary>
    string? MapMessage(string? message);
}

/// <summary>
/// A message that names topics, groups or transactional ids, or carries error messages (generated from the specs'
/// entityType annotations): the request pipeline maps it without knowing its type.
/// </summary>
public interface INamedEntities
{
    /// <summary>Maps every name the message holds with <paramref name="map"/>, dropping elements it hides.</summary>
    void MapNames(IEntityNameMap map);
}
