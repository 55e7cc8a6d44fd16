using Levee.Storage;

namespace Levee.Broker.Replication;

/// <summary>
/// Where a follower cuts its log when the leader reports a diverging epoch (KIP-101, KIP-279, KIP-320): the leader
/// names the largest of its epochs not above the follower's last one and where that epoch ends in its log; the
/// follower compares it with where the same epoch ends in its own log. Kafka's rule, step for step, so a follower
/// converges on a prefix of the leader's log in a few rounds, never keeps a record of an epoch the leader did not
/// write at that offset, and never cuts below what both logs share.
/// </summary>
public static class FollowerTruncation
{
    /// <summary>
    /// The offset to truncate the follower to. <paramref name="leaderEpoch"/> and <paramref name="leaderEndOffset"/>
    /// are the leader's diverging epoch; <paramref name="followerEpochs"/>, <paramref name="followerLogEnd"/> and
    /// <paramref name="followerHighWatermark"/> describe the follower's log. When the follower does not have the
    /// leader's epoch, the cut is only to the end of its own largest earlier epoch and the next fetch, naming that
    /// epoch, goes on from there.
    /// </summary>
    public static long Offset(int leaderEpoch, long leaderEndOffset, IReadOnlyList<EpochEntry> followerEpochs, long followerLogEnd, long followerHighWatermark)
    {
        if (leaderEndOffset < 0)
        {
            // The leader knows no end for it: what the follower knows was committed is all it keeps.
            return Math.Min(followerHighWatermark, followerLogEnd);
        }

        if (leaderEpoch < 0)
        {
            return Math.Min(leaderEndOffset, followerLogEnd);
        }

        var (epoch, endOffset) = LeaderEpochs.EndOffsetFor(followerEpochs, leaderEpoch, followerLogEnd);
        if (epoch < 0)
        {
            // The follower has no epoch up to the leader's: its records after the leader's end are not the leader's.
            return Math.Min(leaderEndOffset, followerLogEnd);
        }

        // The leader's epoch is unknown here: cut to where our own largest earlier epoch ends, and ask again from it.
        return epoch != leaderEpoch
            ? Math.Min(endOffset, followerLogEnd)
            : Math.Min(Math.Min(endOffset, leaderEndOffset), followerLogEnd);
    }
}
