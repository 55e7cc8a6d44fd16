using System.Collections.Concurrent;

namespace Levee.Broker.Transactions;

/// <summary>
/// One transactional id at its coordinator. <see cref="Current"/> is what has been written to
/// <c>__transaction_state</c>; <see cref="Pending"/> is true while a transition is being written or its markers
/// sent, during which other requests for the id answer CONCURRENT_TRANSACTIONS (retriable), as Kafka's
/// pendingState does. Both are read and changed under <see cref="Sync"/>.
/// </summary>
internal sealed class TransactionEntry(string transactionalId, TransactionOwnedPartition owner, TransactionSnapshot current)
{
    /// <summary>The transactional id.</summary>
    public string TransactionalId { get; } = transactionalId;

    /// <summary>The __transaction_state partition (and leadership) the entry was loaded or created under.</summary>
    public TransactionOwnedPartition Owner { get; } = owner;

    /// <summary>Guards <see cref="Current"/> and <see cref="Pending"/>.</summary>
    public Lock Sync { get; } = new();

    /// <summary>The written state.</summary>
    public TransactionSnapshot Current { get; set; } = current;

    /// <summary>A transition is in flight.</summary>
    public bool Pending { get; set; }
}

/// <summary>
/// One __transaction_state partition this broker leads, for one leader epoch (which is the coordinator epoch its
/// markers carry): its transactional ids are served from the moment they are loaded until leadership moves.
/// </summary>
#pragma warning disable CA1001 // The source is cancelled on unload and never disposed: late marker retries and ISR waits still link to its token.
internal sealed class TransactionOwnedPartition(int partition, int leaderEpoch)
#pragma warning restore CA1001
{
    private readonly CancellationTokenSource _unloaded = new();
    private volatile bool _loaded;

    /// <summary>The partition index.</summary>
    public int Partition { get; } = partition;

    /// <summary>The leader epoch: the coordinator epoch.</summary>
    public int LeaderEpoch { get; } = leaderEpoch;

    /// <summary>The transactional ids of the partition.</summary>
    public ConcurrentDictionary<string, TransactionEntry> Entries { get; } = new(StringComparer.Ordinal);

    /// <summary>Loaded (before that: COORDINATOR_LOAD_IN_PROGRESS).</summary>
    public bool IsLoaded => _loaded;

    /// <summary>Loaded and still led here.</summary>
    public bool IsServing => _loaded && !_unloaded.IsCancellationRequested;

    /// <summary>Cancelled when leadership moves: ends marker retries and waits for the ISR.</summary>
    public CancellationToken Unloaded => _unloaded.Token;

    /// <summary>Marks the partition loaded.</summary>
    public void MarkLoaded() => _loaded = true;

    /// <summary>Marks the partition given up.</summary>
    public void MarkUnloaded() => _unloaded.Cancel();
}
