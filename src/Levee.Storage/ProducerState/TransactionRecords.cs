namespace Levee.Storage.ProducerState;

/// <summary>An aborted transaction as Fetch (v4+) returns it in <c>aborted_transactions</c>.</summary>
/// <param name="ProducerId">The producer whose transaction was aborted.</param>
/// <param name="FirstOffset">Offset of the transaction's first batch on this partition.</param>
public readonly record struct AbortedTxn(long ProducerId, long FirstOffset);

/// <summary>
/// One entry of a segment's transaction index (<c>.txnindex</c>, Kafka's AbortedTxn): an aborted transaction whose
/// ABORT marker is in that segment.
/// </summary>
/// <param name="ProducerId">The producer.</param>
/// <param name="FirstOffset">Offset of the transaction's first batch.</param>
/// <param name="LastOffset">Offset of its ABORT marker.</param>
/// <param name="LastStableOffset">The last stable offset right after the transaction completed: a reader of the index
/// that reaches an entry with this at or past its upper bound has seen every aborted transaction that can start below it.</param>
public readonly record struct AbortedTxnEntry(long ProducerId, long FirstOffset, long LastOffset, long LastStableOffset);

/// <summary>
/// A transaction that still holds the last stable offset back: open (<see cref="LastOffset"/> is
/// <see cref="long.MaxValue"/>), or completed with its marker not yet below the high watermark.
/// </summary>
/// <param name="ProducerId">The producer.</param>
/// <param name="FirstOffset">Offset of its first batch.</param>
/// <param name="LastOffset">Offset of its marker, <see cref="long.MaxValue"/> while it is open.</param>
public readonly record struct UnstableTxn(long ProducerId, long FirstOffset, long LastOffset);

/// <summary>Who appends a batch as leader; decides which producer checks apply (Kafka's AppendOrigin).</summary>
public enum AppendOrigin
{
    /// <summary>A client's Produce: epochs, sequences and transaction state are checked, retries recognised.</summary>
    Client,

    /// <summary>
    /// A coordinator of this broker (group offsets of a transaction, transaction markers): batches carry a producer
    /// id and epoch but base sequence -1, so only epochs (and a marker's coordinator epoch) are checked.
    /// </summary>
    Coordinator,
}
