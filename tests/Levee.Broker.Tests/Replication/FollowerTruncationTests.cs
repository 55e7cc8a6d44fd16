using CsCheck;
using Levee.Broker.Replication;
using Levee.Storage;

namespace Levee.Broker.Tests.Replication;

/// <summary>
/// The leader's answer (<see cref="LeaderEpochs.EndOffsetFor(IReadOnlyList{EpochEntry}, int, long)"/>, the
/// check of <c>FetchHandler</c>) and the follower's cut (<see cref="FollowerTruncation"/>) together: from any two
/// logs that share a prefix and then diverge, as leadership changes leave them, the follower's fetch rounds end
/// with its log equal to the leader's, never cutting below the shared prefix.
/// </summary>
public sealed class FollowerTruncationTests
{
    [Fact]
    public void AnyDivergentFollower_ConvergesOnTheLeadersLog_WithoutCuttingWhatTheyShare()
    {
        Gen.Int.Array[1, 40].Sample(
            seeds =>
            {
                var (leader, follower, shared) = Histories(new Random(seeds.Aggregate(17, (h, s) => (h * 31) + s)), seeds.Length);
                var rounds = Replicate(leader, follower, shared);
                Assert.Equal(leader.Epochs, follower.Epochs);
                Assert.InRange(rounds, 1, 2 + seeds.Length);
            },
            iter: 2000);
    }

    [Fact]
    public void AFollowerWithAnUncommittedRecordOfAnEpochTheNewLeaderNeverHad_DropsIt_EvenBeforeTheLeaderWrites()
    {
        // The pause drill's case: broker 3 led epoch 0 and wrote one record no one else got; broker 2 was elected
        // at epoch 1 with an empty log and wrote two records. Broker 3 fetches from offset 1, last epoch 0.
        var leader = new ModelLog([], 0);
        leader.BeginEpoch(1);
        leader.Append(1, 2);
        var follower = new ModelLog([], 0);
        follower.Append(0, 1);

        var (epoch, end) = LeaderEpochs.EndOffsetFor(leader.Entries, 0, leader.End);
        Assert.Equal((0, 0L), (epoch, end));
        Assert.Equal(0, FollowerTruncation.Offset(epoch, end, follower.Entries, follower.End, followerHighWatermark: 0));

        // Before its first append the new leader already says where the follower's epoch ends (Kafka assigns at election).
        var fresh = new ModelLog([], 0);
        fresh.Append(0, 3);
        fresh.BeginEpoch(2);
        var behind = new ModelLog([], 0);
        behind.Append(0, 2);
        behind.Append(1, 2);
        var answer = LeaderEpochs.EndOffsetFor(fresh.Entries, 1, fresh.End);
        Assert.Equal((0, 3L), answer);
        Assert.Equal(2, FollowerTruncation.Offset(answer.Epoch, answer.EndOffset, behind.Entries, behind.End, followerHighWatermark: 1));

        // The drill's second case: broker 3 wrote offset 0 at epoch 4, was elected at epoch 6 and lost it before writing;
        // broker 2 leads epoch 7. The cut is at the log end: no record goes, but epoch 6 must, or the next fetch names
        // it again and gets the same answer for ever.
        var second = new ModelLog([], 0);
        second.Append(4, 1);
        second.BeginEpoch(7);
        var stale = new ModelLog([], 0);
        stale.Append(4, 1);
        stale.BeginEpoch(6);
        var reply = LeaderEpochs.EndOffsetFor(second.Entries, 6, second.End);
        Assert.Equal((4, 1L), reply);
        var cut = FollowerTruncation.Offset(reply.Epoch, reply.EndOffset, stale.Entries, stale.End, followerHighWatermark: 1);
        Assert.Equal(1, cut);
        stale.TruncateTo(cut);
        Assert.Equal(4, stale.Entries[^1].Epoch);
    }

    [Fact]
    public void TheLeadersAnswer_FollowsKafka_ForOlderNewerAndUnknownEpochs()
    {
        EpochEntry[] entries = [new(3, 10), new(5, 20), new(8, 30)];
        Assert.Equal((3, 20L), LeaderEpochs.EndOffsetFor(entries, 4, 40));
        Assert.Equal((5, 30L), LeaderEpochs.EndOffsetFor(entries, 5, 40));
        Assert.Equal((8, 40L), LeaderEpochs.EndOffsetFor(entries, 8, 40));
        Assert.Equal((1, 10L), LeaderEpochs.EndOffsetFor(entries, 1, 40));
        Assert.Equal((-1, -1L), LeaderEpochs.EndOffsetFor(entries, 9, 40));
        Assert.Equal((-1, -1L), LeaderEpochs.EndOffsetFor(entries, -1, 40));
        Assert.Equal((-1, -1L), LeaderEpochs.EndOffsetFor([], 0, 0));
    }

    // Fetch rounds as FetchHandler answers and ReplicaFetcher applies them, until the follower has the leader's log.
    private static int Replicate(ModelLog leader, ModelLog follower, long shared)
    {
        for (var round = 1; round <= 100; round++)
        {
            var lastEpoch = follower.Entries.Count > 0 ? follower.Entries[^1].Epoch : -1;
            var fetchOffset = follower.End;
            if (lastEpoch >= 0)
            {
                var (epoch, end) = LeaderEpochs.EndOffsetFor(leader.Entries, lastEpoch, leader.End);
                if ((epoch != lastEpoch || end < fetchOffset) && (epoch >= 0 || end >= 0))
                {
                    var to = FollowerTruncation.Offset(epoch, end, follower.Entries, follower.End, followerHighWatermark: shared);
                    Assert.True(to >= shared, $"cut to {to}, below the {shared} records both logs share");
                    var before = (follower.End, follower.Entries.Count);
                    follower.TruncateTo(to);
                    Assert.True((follower.End, follower.Entries.Count) != before, $"a diverging answer that cuts nothing ({to} of {follower.End}) repeats for ever");
                    continue;
                }
            }

            Assert.True(fetchOffset <= leader.End, "a follower with epochs never fetches past the leader's end");
            follower.CopyFrom(leader, fetchOffset);
            return round;
        }

        throw new Xunit.Sdk.XunitException("no convergence in 100 rounds");
    }

    // Two logs as leadership changes leave them: a shared prefix, then records of epochs each wrote or got alone
    // (an epoch's records come from its one leader, so the same epoch never holds different records), and the
    // leader's current epoch, newer than any, begun at its log end and perhaps not yet written to.
    private static (ModelLog Leader, ModelLog Follower, long Shared) Histories(Random random, int size)
    {
        var prefix = new ModelLog([], 0);
        var epoch = -1;
        for (var i = random.Next(0, 4); i > 0; i--)
        {
            epoch += random.Next(1, 3);
            prefix.Append(epoch, random.Next(1, 4));
        }

        var shared = prefix.End;
        var leader = prefix.Copy();
        var follower = prefix.Copy();
        if (epoch >= 0 && random.Next(3) == 0)
        {
            // One of them got more of the last shared epoch than the other.
            (random.Next(2) == 0 ? leader : follower).Append(epoch, random.Next(1, 3));
        }

        for (var i = random.Next(0, Math.Min(size, 6)); i > 0; i--)
        {
            epoch += random.Next(1, 3);
            (random.Next(2) == 0 ? leader : follower).Append(epoch, random.Next(1, 4));
        }

        if (random.Next(3) == 0)
        {
            // The follower was elected and lost leadership before it wrote anything.
            follower.BeginEpoch(++epoch);
        }

        leader.BeginEpoch(epoch + 1);
        if (random.Next(2) == 0)
        {
            leader.Append(epoch + 1, random.Next(1, 4));
        }

        return (leader, follower, shared);
    }

    // A log as its epoch per offset and its leader-epoch entries, with the storage rules for both.
    private sealed class ModelLog(List<int> epochs, long start)
    {
        public List<int> Epochs { get; } = epochs;

        public List<EpochEntry> Entries { get; } = [];

        public long End => start + Epochs.Count;

        public ModelLog Copy()
        {
            var copy = new ModelLog([.. Epochs], start);
            copy.Entries.AddRange(Entries);
            return copy;
        }

        public void BeginEpoch(int epoch) => Assign(epoch, End);

        public void Append(int epoch, int count)
        {
            Assign(epoch, End);
            Epochs.AddRange(Enumerable.Repeat(epoch, count));
        }

        public void TruncateTo(long offset)
        {
            Epochs.RemoveRange((int)(offset - start), (int)(End - offset));
            Entries.RemoveAll(e => e.StartOffset >= offset);
        }

        public void CopyFrom(ModelLog leader, long from)
        {
            for (var offset = from; offset < leader.End; offset++)
            {
                Append(leader.Epochs[(int)(offset - start)], 1);
            }
        }

        // As LeaderEpochCheckpoint.Assign: only a newer epoch, and stale entries starting at or after it go.
        private void Assign(int epoch, long offset)
        {
            if (Entries.Count > 0 && epoch <= Entries[^1].Epoch)
            {
                return;
            }

            Entries.RemoveAll(e => e.StartOffset >= offset);
            Entries.Add(new EpochEntry(epoch, offset));
        }
    }
}
