using Levee.Protocol;

namespace Levee.Storage.ProducerState;

/// <summary>
/// An idempotent producer's batch refused before anything was written: out of order, from an old epoch, or a new
/// epoch not starting at sequence 0. <see cref="ErrorCode"/> is what the Produce response carries.
/// </summary>
public sealed class ProducerStateException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ProducerStateException(ErrorCode errorCode, string message)
        : base(message)
    {
        ErrorCode = errorCode;
    }

    /// <summary>Creates the exception with Kafka's generic error (for serializers).</summary>
    public ProducerStateException()
        : this(ErrorCode.OutOfOrderSequenceNumber, "Out of order sequence number.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ProducerStateException(string message)
        : this(ErrorCode.OutOfOrderSequenceNumber, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ProducerStateException(string message, Exception innerException)
        : base(message, innerException)
    {
        ErrorCode = ErrorCode.OutOfOrderSequenceNumber;
    }

    /// <summary>The Kafka error for the Produce response.</summary>
    public ErrorCode ErrorCode { get; }
}
