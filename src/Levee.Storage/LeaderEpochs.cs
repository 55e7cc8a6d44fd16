namespace Levee.Storage;

/// <summary>What a partition's leader epoch history answers, as pure functions of its entries.</summary>
public static class LeaderEpochs
{
    /// <summary>
    /// OffsetForLeaderEpoch (Kafka's rule) over <paramref name="entries"/> (ascending epochs and start offsets): for the latest epoch, the log end; for an earlier one, the largest epoch
    /// &lt;= <paramref name="requestedEpoch"/> and the offset where the next epoch started; for one older than every
    /// entry (its records are gone), <paramref name="requestedEpoch"/> itself and the first entry's start offset, so a
    /// follower still holding records of it truncates them; (-1, -1) when there are no entries or the epoch is newer
    /// than any.
    /// </summary>
    public static (int Epoch, long EndOffset) EndOffsetFor(IReadOnlyList<EpochEntry> entries, int requestedEpoch, long logEndOffset)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0 || requestedEpoch < 0 || requestedEpoch > entries[^1].Epoch)
        {
            return (-1, -1);
        }

        if (requestedEpoch == entries[^1].Epoch)
        {
            return (requestedEpoch, logEndOffset);
        }

        if (requestedEpoch < entries[0].Epoch)
        {
            return (requestedEpoch, entries[0].StartOffset);
        }

        for (var i = entries.Count - 2; i >= 0; i--)
        {
            if (entries[i].Epoch <= requestedEpoch)
            {
                return (entries[i].Epoch, entries[i + 1].StartOffset);
            }
        }

        return (-1, -1);
    }
}
