namespace Levee.Storage;

/// <summary>A fetch or seek asked for an offset outside [log start offset, log end offset] (Kafka's OFFSET_OUT_OF_RANGE).</summary>
public sealed class OffsetOutOfRangeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OffsetOutOfRangeException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public OffsetOutOfRangeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public OffsetOutOfRangeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a requested offset and the log's bounds.</summary>
    public OffsetOutOfRangeException(TopicPartition topicPartition, long offset, long logStartOffset, long logEndOffset)
        : base($"Offset {offset} is out of range for {topicPartition}: log start offset {logStartOffset}, log end offset {logEndOffset}.")
    {
        TopicPartition = topicPartition;
        Offset = offset;
        LogStartOffset = logStartOffset;
        LogEndOffset = logEndOffset;
    }

    /// <summary>The partition.</summary>
    public TopicPartition TopicPartition { get; }

    /// <summary>The offset asked for.</summary>
    public long Offset { get; }

    /// <summary>The log start offset at the time.</summary>
    public long LogStartOffset { get; }

    /// <summary>The log end offset at the time.</summary>
    public long LogEndOffset { get; }
}
