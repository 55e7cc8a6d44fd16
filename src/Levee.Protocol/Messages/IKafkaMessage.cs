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
