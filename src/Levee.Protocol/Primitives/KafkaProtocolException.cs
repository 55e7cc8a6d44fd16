namespace Levee.Protocol;

/// <summary>
/// Thrown when bytes received from the wire do not form a valid Kafka message: truncated input,
/// an impossible length, an over-long varint, a null where the spec forbids one. Also thrown when a
/// message cannot be encoded in the requested version (a value too long for its length prefix, a null
/// in a non-nullable field).
/// </summary>
public class KafkaProtocolException : Exception
{
    /// <summary>Creates an exception with a generic message.</summary>
    public KafkaProtocolException()
        : base("Malformed Kafka protocol data.")
    {
    }

    /// <summary>Creates an exception with the given message.</summary>
    public KafkaProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with the given message and cause.</summary>
    public KafkaProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
