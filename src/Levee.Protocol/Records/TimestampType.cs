namespace Levee.Protocol.Records;

/// <summary>How a batch's timestamps are to be read (attributes bit 3), and a topic's message.timestamp.type.</summary>
public enum TimestampType
{
    /// <summary>The producer's timestamps.</summary>
    CreateTime = 0,

    /// <summary>The broker's append time, in the batch's maxTimestamp.</summary>
    LogAppendTime = 1,
}
