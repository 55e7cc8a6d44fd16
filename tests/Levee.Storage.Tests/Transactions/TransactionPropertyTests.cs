using System.Text;
using CsCheck;
using Levee.Protocol.Records;

namespace Levee.Storage.Tests.Transactions;

/// <summary>
/// Random interleavings of transactional producers (writes, commits, aborts), plain writes and a lagging high
/// watermark, against a model: what read_committed returns must be the model's committed records below the last
/// stable offset, live, after a clean and an unclean reopen, and after compaction.
/// </summary>
public sealed class TransactionPropertyTests
{
    private const int Keys = 6;

    private static LogConfig Config => TxnLog.Compacted(400);

    [Fact]
    public void ReadCommitted_EqualsTheModelsCommittedRecords()
    {
        // (producer 0-2, action 0-9): 0-4 write, 5 commit, 6 abort, 7 plain write, 8-9 move the high watermark part way.
        var ops = Gen.Select(Gen.Int[0, 2], Gen.Int[0, 9], Gen.Int[0, 100]).Array[1, 70];
        ops.Sample(
            history =>
            {
                using var dir = new TempDir();
                var logDir = dir.Sub("orders-0");
                var model = new Model();
                var log = LogExtensions.OpenLog(logDir, Config);
                try
                {
                    var sequences = new int[3];
                    var value = 0;
                    foreach (var (producer, action, percent) in history)
                    {
                        var producerId = producer + 1;
                        switch (action)
                        {
                            case < 5:
                                log.AppendAsLeader(Keyed(producerId, sequences[producer]++, value), 0);
                                model.Write(log.LogEndOffset - 1, value++, producerId);
                                break;
                            case 5 or 6:
                                log.AppendMarkerAsLeader(producerId, 0, commit: action == 5, coordinatorEpoch: 0, leaderEpoch: 0);
                                model.End(log.LogEndOffset - 1, producerId, commit: action == 5);
                                break;
                            case 7:
                                log.AppendAsLeader(Keyed(-1, -1, value), 0);
                                model.Write(log.LogEndOffset - 1, value++, -1);
                                break;
                            default:
                                log.HighWatermark = log.HighWatermark + ((log.LogEndOffset - log.HighWatermark) * percent / 100);
                                break;
                        }

                        Assert.Equal(model.LastStableOffset(log.HighWatermark), log.LastStableOffset);
                        Assert.Equal(model.Committed(log.LastStableOffset), log.ReadCommitted());
                    }

                    log.HighWatermark = log.LogEndOffset;
                    Assert.Equal(model.Committed(log.LastStableOffset), log.ReadCommitted());

                    // An unclean stop (a copy of the directory while open: no close snapshot) and a clean one.
                    var crashed = dir.Sub("crashed");
                    CrashCopy.Directory(logDir, crashed);
                    using (var recovered = LogExtensions.OpenLog(crashed, Config, clean: false))
                    {
                        Assert.Equal(log.LastStableOffset, recovered.LastStableOffset);
                        Assert.Equal(model.Committed(recovered.LastStableOffset), recovered.ReadCommitted());
                        Assert.Equal(log.CollectAbortedTransactions(0, log.LogEndOffset), recovered.CollectAbortedTransactions(0, recovered.LogEndOffset));
                    }

                    log.Dispose();
                    log = LogExtensions.OpenLog(logDir, Config);
                    Assert.Equal(model.Committed(log.LastStableOffset), log.ReadCommitted());

                    // Compaction: the committed view keeps every key's latest value, aborted records go, nothing at or
                    // above the last stable offset changes, and markers stay.
                    var lastStable = log.LastStableOffset;
                    var before = AllRecords(log);
                    var markers = Markers(log);
                    using (var resources = new CleanerResources(1 << 20, 0.9, new CleanerThrottler(double.MaxValue, TimeProvider.System)))
                    {
                        log.Clean(1_000_000, resources, CancellationToken.None);
                    }

                    var after = AllRecords(log);
                    Assert.True(log.FirstDirtyOffset <= lastStable);
                    Assert.Equal(before.Where(r => r.Offset >= lastStable), after.Where(r => r.Offset >= lastStable));
                    Assert.Equal(markers, Markers(log));
                    var committed = model.Committed(lastStable);
                    Assert.Equal(Latest(committed), Latest(log.ReadCommitted()));
                    Assert.All(after.Where(r => r.Offset < log.FirstDirtyOffset), r => Assert.False(model.IsAborted(r.Offset)));
                }
                finally
                {
                    log.Dispose();
                }
            },
            iter: 40);
    }

    private static byte[] Keyed(long producerId, int sequence, int value) =>
        RecordBatchBuilder.BuildToArray(
            new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = (short)(producerId < 0 ? -1 : 0), BaseSequence = sequence, IsTransactional = producerId >= 0 },
            [new RecordData(Encoding.UTF8.GetBytes($"k{value % Keys}"), Encoding.UTF8.GetBytes($"v{value}"), 1_000)]);

    private static Dictionary<int, int> Latest(List<int> values)
    {
        var latest = new Dictionary<int, int>();
        foreach (var v in values)
        {
            latest[v % Keys] = v;
        }

        return latest;
    }

    /// <summary>Every data record's (offset, value) below the high watermark, read_uncommitted.</summary>
    private static List<(long Offset, int Value)> AllRecords(PartitionLog log) => [.. log.Batches().SelectMany(b => b.Records)];

    private static List<long> Markers(PartitionLog log) => [.. log.Batches().Where(b => b.IsControl).Select(b => b.Offset)];

    /// <summary>The expected outcome: records with their producer's transaction, and how each transaction ended.</summary>
    private sealed class Model
    {
        private readonly List<(long Offset, int Value, int Txn)> _records = [];
        private readonly Dictionary<long, (int Txn, long First)> _open = [];
        private readonly Dictionary<int, (bool Committed, long First, long Marker)> _ended = [];
        private int _txns;

        public void Write(long offset, int value, long producerId)
        {
            if (producerId < 0)
            {
                _records.Add((offset, value, -1));
                return;
            }

            if (!_open.TryGetValue(producerId, out var txn))
            {
                txn = (_txns++, offset);
                _open[producerId] = txn;
            }

            _records.Add((offset, value, txn.Txn));
        }

        public void End(long markerOffset, long producerId, bool commit)
        {
            if (_open.Remove(producerId, out var txn))
            {
                _ended[txn.Txn] = (commit, txn.First, markerOffset);
            }
        }

        public long LastStableOffset(long highWatermark)
        {
            var unstable = _open.Values.Select(t => t.First)
                .Concat(_ended.Values.Where(t => t.Marker >= highWatermark).Select(t => t.First));
            return Math.Min(highWatermark, unstable.DefaultIfEmpty(long.MaxValue).Min());
        }

        public bool IsAborted(long offset) =>
            _records.Any(r => r.Offset == offset && r.Txn >= 0 && _ended.TryGetValue(r.Txn, out var e) && !e.Committed);

        public List<int> Committed(long lastStable) =>
            [.. _records.Where(r => r.Offset < lastStable && (r.Txn < 0 || (_ended.TryGetValue(r.Txn, out var e) && e.Committed))).Select(r => r.Value)];
    }
}
