namespace Levee.Storage.ProducerState;

/// <summary>
/// What the broker remembers of one appended batch of an idempotent producer: enough to recognise a retry of it
/// and answer with the offsets it was first given.
/// </summary>
/// <param name="FirstSequence">Sequence number of the batch's first record.</param>
/// <param name="LastSequence">Sequence number of its last record (wraps past <see cref="int.MaxValue"/> to 0).</param>
/// <param name="FirstOffset">Offset assigned to its first record.</param>
/// <param name="LastOffset">Offset assigned to its last record.</param>
/// <param name="Timestamp">The batch's max timestamp (the append time with LogAppendTime).</param>
public readonly record struct BatchMetadata(int FirstSequence, int LastSequence, long FirstOffset, long LastOffset, long Timestamp)
{
    /// <summary>lastOffset - firstOffset, which for a producer batch is also the sequence span (Kafka's offset_delta).</summary>
    public int OffsetDelta => (int)(LastOffset - FirstOffset);

    /// <summary>
    /// Adds <paramref name="increment"/> to a sequence number the way Kafka does: sequences run from 0 to
    /// <see cref="int.MaxValue"/> and then start again at 0.
    /// </summary>
    public static int IncrementSequence(int sequence, int increment) =>
        sequence > int.MaxValue - increment ? increment - (int.MaxValue - sequence) - 1 : sequence + increment;

    /// <summary>The inverse of <see cref="IncrementSequence"/>.</summary>
    public static int DecrementSequence(int sequence, int decrement) =>
        sequence < decrement ? int.MaxValue - (decrement - sequence) + 1 : sequence - decrement;

    /// <summary>True when <paramref name="next"/> directly follows <paramref name="last"/> (0 follows <see cref="int.MaxValue"/>).</summary>
    public static bool InSequence(int last, int next) => next == last + 1L || (next == 0 && last == int.MaxValue);
}
