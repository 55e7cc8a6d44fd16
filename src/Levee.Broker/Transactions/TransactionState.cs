namespace Levee.Broker.Transactions;

/// <summary>
/// The states of a transactional id at its coordinator, with the codes Kafka stores in <c>__transaction_state</c>
/// (TransactionLogValue.TransactionStatus).
/// </summary>
public enum TransactionState : sbyte
{
    /// <summary>No transaction: the producer has initialised (or its last transaction completed long ago).</summary>
    Empty = 0,

    /// <summary>Partitions have been added; data may be written.</summary>
    Ongoing = 1,

    /// <summary>EndTxn(commit) accepted: COMMIT markers are being written.</summary>
    PrepareCommit = 2,

    /// <summary>EndTxn(abort), a fencing InitProducerId or a timeout: ABORT markers are being written.</summary>
    PrepareAbort = 3,

    /// <summary>Every partition has its COMMIT marker.</summary>
    CompleteCommit = 4,

    /// <summary>Every partition has its ABORT marker.</summary>
    CompleteAbort = 5,

    /// <summary>Expired transactional id (never loaded back).</summary>
    Dead = 6,

    /// <summary>An epoch bump is fencing a producer before its transaction is aborted.</summary>
    PrepareEpochFence = 7,
}

/// <summary>Names of the states as DescribeTransactions and ListTransactions report them (Kafka's TransactionState names).</summary>
public static class TransactionStates
{
    /// <summary>Kafka's name of <paramref name="state"/>.</summary>
    public static string Name(this TransactionState state) => state switch
    {
        TransactionState.Empty => "Empty",
        TransactionState.Ongoing => "Ongoing",
        TransactionState.PrepareCommit => "PrepareCommit",
        TransactionState.PrepareAbort => "PrepareAbort",
        TransactionState.CompleteCommit => "CompleteCommit",
        TransactionState.CompleteAbort => "CompleteAbort",
        TransactionState.Dead => "Dead",
        TransactionState.PrepareEpochFence => "PrepareEpochFence",
        _ => "Unknown",
    };

    /// <summary>The state Kafka names <paramref name="name"/> (ListTransactions' state filter), if any.</summary>
    public static bool TryParse(string name, out TransactionState state)
    {
        foreach (var candidate in Enum.GetValues<TransactionState>())
        {
            if (string.Equals(candidate.Name(), name, StringComparison.Ordinal))
            {
                state = candidate;
                return true;
            }
        }

        state = default;
        return false;
    }

    /// <summary>Markers are being written: the transaction is neither open to new partitions nor finished.</summary>
    public static bool IsPreparing(this TransactionState state) => state is TransactionState.PrepareCommit or TransactionState.PrepareAbort or TransactionState.PrepareEpochFence;
}
