using Levee.Protocol;
using Levee.Protocol.Records;
using Levee.Storage.ProducerState;
using Levee.Storage.Tests.ProducerState;

namespace Levee.Storage.Tests.Transactions;

public sealed class TransactionLogTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string LogDir => _dir.Sub("orders-0");

    [Fact]
    public void TransactionalBatch_OpensATransaction_AndACommitMarkerEndsIt()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TestBatches.Build(2));
        log.Append(TxnLog.Data(7, 0, 0, 1, 2));
        log.Append(TxnLog.Data(7, 0, 2, 3));
        Assert.Equal(2, log.TxnStart(7));
        Assert.Equal(2, log.LastStableOffset);

        var marker = log.Marker(7, commit: true, coordinatorEpoch: 3);

        Assert.Equal(5, marker.FirstOffset);
        Assert.Equal(-1, log.TxnStart(7));
        Assert.Equal(3, log.ActiveProducers().Single().CoordinatorEpoch);
        Assert.Equal(6, log.LastStableOffset);
        Assert.Empty(log.CollectAbortedTransactions(0, 6));
        Assert.Equal([1, 2, 3], log.ReadCommitted(2));
        Assert.False(File.Exists(Path.Combine(LogDir, "00000000000000000000.txnindex")));

        // The marker is a control batch of one record, transactional, with the producer's id and epoch and no sequence.
        var bytes = log.Read(5, int.MaxValue).ReadBytes();
        var header = new RecordBatchHeader(bytes);
        Assert.True(header.IsControl && header.IsTransactional);
        Assert.Equal((7L, (short)0, -1, 1), (header.ProducerId, header.ProducerEpoch, header.BaseSequence, header.RecordCount));
        Assert.True(EndTransactionMarker.TryRead(bytes, out var read));
        Assert.Equal(new EndTransactionMarker(true, 3), read);
    }

    [Fact]
    public void AbortMarker_WritesTheTxnIndexOfItsSegment_AndReadCommittedSkipsTheTransaction()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TxnLog.Data(7, 0, 0, 1, 2));   // 0-1
        log.Append(TxnLog.Data(8, 0, 0, 10));     // 2, another producer's transaction
        log.Append(TxnLog.Data(7, 0, 2, 3));      // 3
        log.Marker(7, commit: false);             // 4: aborts 7's; 8's still open
        log.Marker(8, commit: true);              // 5

        Assert.Equal(
            [new AbortedTxnEntry(7, 0, 4, 2)], // the LSO right after the abort: 8's transaction still holds it at 2
            TxnLog.TxnIndexFiles(LogDir));
        Assert.Equal([new AbortedTxn(7, 0)], log.CollectAbortedTransactions(0, 6));
        Assert.Equal([new AbortedTxn(7, 0)], log.CollectAbortedTransactions(4, 5));
        Assert.Empty(log.CollectAbortedTransactions(5, 6)); // its marker is before the start
        Assert.Empty(log.CollectAbortedTransactions(0, 0)); // it starts at the bound
        Assert.Equal([10], log.ReadCommitted());
    }

    [Fact]
    public void LastStableOffset_FollowsInterleavedTransactions_AndTheHighWatermark()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TestBatches.Build(1));                      // 0
        log.AppendAsLeader(TxnLog.Data(1, 0, 0, 1), 0);        // 1: producer 1 opens
        log.AppendAsLeader(TxnLog.Data(2, 0, 0, 2), 0);        // 2: producer 2 opens
        log.HighWatermark = 3;
        Assert.Equal(1, log.LastStableOffset);

        log.AppendMarkerAsLeader(1, 0, commit: true, coordinatorEpoch: 0, leaderEpoch: 0); // 3
        log.AppendMarkerAsLeader(2, 0, commit: false, coordinatorEpoch: 0, leaderEpoch: 0); // 4
        Assert.Equal(1, log.LastStableOffset); // both markers still at or above the high watermark

        log.HighWatermark = 4; // 1's commit is replicated, 2's abort not yet
        Assert.Equal(2, log.LastStableOffset);

        log.HighWatermark = 5;
        Assert.Equal(5, log.LastStableOffset);

        log.AppendAsLeader(TxnLog.Data(1, 0, 1, 3), 0);        // 5: producer 1 opens again
        log.HighWatermark = 6;
        Assert.Equal(5, log.LastStableOffset);
        log.AppendAsLeader(TestBatches.Build(1), 0);           // 6
        log.HighWatermark = 7;
        Assert.Equal(5, log.LastStableOffset);
        log.Marker(1, commit: true);
        Assert.Equal(8, log.LastStableOffset);
    }

    [Fact]
    public void MarkerFromAnOlderProducerEpoch_IsInvalidProducerEpoch_AndWritesNothing()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TxnLog.Data(7, 2, 0, 1));
        var e = Assert.Throws<ProducerStateException>(() => log.Marker(7, commit: true, epoch: 1));
        Assert.Equal(ErrorCode.InvalidProducerEpoch, e.ErrorCode);
        Assert.Equal(1, log.LogEndOffset);
        Assert.Equal(0, log.TxnStart(7));
    }

    [Fact]
    public void MarkerFromAnOlderCoordinatorEpoch_IsCoordinatorFenced()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TxnLog.Data(7, 0, 0, 1));
        log.Marker(7, commit: true, coordinatorEpoch: 5);
        log.Append(TxnLog.Data(7, 0, 1, 2));
        var e = Assert.Throws<ProducerStateException>(() => log.Marker(7, commit: false, coordinatorEpoch: 4));
        Assert.Equal(ErrorCode.TransactionCoordinatorFenced, e.ErrorCode);
        Assert.Equal(2, log.TxnStart(7)); // still open
        log.Marker(7, commit: false, coordinatorEpoch: 5);
        Assert.Equal(-1, log.TxnStart(7));
    }

    [Fact]
    public void MarkerWithNoOpenTransaction_IsWritten_CompletesNothing_AndANewerEpochFencesTheOldOne()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(ProducerBatches.Build(7, 0, 0));
        var marker = log.Marker(7, commit: false, epoch: 1);
        Assert.Equal(1, marker.FirstOffset);
        Assert.Empty(TxnLog.TxnIndexFiles(LogDir));
        Assert.Equal(2, log.LastStableOffset);

        // The marker's epoch is the producer's now: the old epoch is fenced, the new one starts at sequence 0.
        Assert.Equal(ErrorCode.InvalidProducerEpoch, Assert.Throws<ProducerStateException>(() => log.Append(ProducerBatches.Build(7, 0, 1))).ErrorCode);
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, Assert.Throws<ProducerStateException>(() => log.Append(ProducerBatches.Build(7, 1, 1))).ErrorCode);
        log.Append(ProducerBatches.Build(7, 1, 0));
    }

    [Fact]
    public void NonTransactionalBatch_WhileATransactionIsOpen_IsInvalidTxnState()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TxnLog.Data(7, 0, 0, 1));
        var e = Assert.Throws<ProducerStateException>(() => log.Append(ProducerBatches.Build(7, 0, 1)));
        Assert.Equal(ErrorCode.InvalidTxnState, e.ErrorCode);

        // Within one append too: a transactional batch followed by a plain one of the same producer.
        log.Marker(7, commit: true);
        var both = TestBatches.Concat(TxnLog.Data(7, 0, 1, 2), ProducerBatches.Build(7, 0, 2));
        Assert.Equal(ErrorCode.InvalidTxnState, Assert.Throws<ProducerStateException>(() => log.Append(both)).ErrorCode);
        Assert.Equal(2, log.LogEndOffset);
    }

    [Fact]
    public void CoordinatorBatchWithoutSequence_OpensATransaction_ChecksTheEpoch_AndCachesNoSequence()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        var offsets = TxnLog.Data(7, 3, -1, 1, 2);
        log.AppendAsLeader(offsets, 0, AppendOrigin.Coordinator);
        log.AppendAsLeader(TxnLog.Data(7, 3, -1, 3), 0, AppendOrigin.Coordinator); // no sequence to continue
        log.HighWatermark = log.LogEndOffset;
        var producer = log.ActiveProducers().Single();
        Assert.Equal((short)3, producer.ProducerEpoch);
        Assert.Equal(-1, producer.LastSequence);
        Assert.Equal(0, producer.CurrentTxnStartOffset);
        Assert.Equal(0, log.LastStableOffset);

        Assert.Equal(
            ErrorCode.InvalidProducerEpoch,
            Assert.Throws<ProducerStateException>(() => log.AppendAsLeader(TxnLog.Data(7, 2, -1, 4), 0, AppendOrigin.Coordinator)).ErrorCode);
        log.Marker(7, commit: true, epoch: 3);
        Assert.Equal([1, 2, 3], log.ReadCommitted());
    }

    [Fact]
    public void ProducerWithAnOpenTransaction_IsNeverExpired()
    {
        var time = new ManualTimeProvider();
        using var log = LogExtensions.OpenLog(LogDir, time: time);
        log.Append(TxnLog.Data(7, 0, 0, 1));
        log.Append(ProducerBatches.Build(8, 0, 0));
        Assert.Equal(1, log.RemoveExpiredProducers(long.MaxValue / 2));
        Assert.Equal(7, log.ActiveProducers().Single().ProducerId);
        log.Marker(7, commit: false);
        Assert.Equal(1, log.RemoveExpiredProducers(long.MaxValue / 2));
    }

    [Fact]
    public void OpenTransactionsAndTheTxnIndex_SurviveACleanRestart()
    {
        using (var log = LogExtensions.OpenLog(LogDir))
        {
            log.Append(TxnLog.Data(7, 0, 0, 1));
            log.Marker(7, commit: false, coordinatorEpoch: 2);
            log.Append(TxnLog.Data(8, 0, 0, 2));
            log.Append(TxnLog.Data(7, 0, 1, 3));
        }

        using var reopened = LogExtensions.OpenLog(LogDir);
        Assert.Equal(2, reopened.LastStableOffset);
        Assert.Equal(2, reopened.TxnStart(8));
        Assert.Equal(3, reopened.TxnStart(7));
        Assert.Equal(2, reopened.ActiveProducers().Single(p => p.ProducerId == 7).CoordinatorEpoch);
        Assert.Equal([new AbortedTxn(7, 0)], reopened.CollectAbortedTransactions(0, 4));
        reopened.Marker(8, commit: true);
        reopened.Marker(7, commit: true, coordinatorEpoch: 2);
        Assert.Equal([2, 3], reopened.ReadCommitted());

        // A coordinator epoch older than the one restored from the snapshot is still fenced.
        reopened.Append(TxnLog.Data(7, 0, 2, 4));
        Assert.Equal(ErrorCode.TransactionCoordinatorFenced, Assert.Throws<ProducerStateException>(() => reopened.Marker(7, commit: true, coordinatorEpoch: 1)).ErrorCode);
    }

    [Fact]
    public void TxnIndex_IsTruncatedWithTheLog_AndTheTransactionReopens()
    {
        using var log = LogExtensions.OpenLog(LogDir);
        log.Append(TxnLog.Data(7, 0, 0, 1));  // 0
        log.Marker(7, commit: false);         // 1
        log.Append(TxnLog.Data(7, 0, 1, 2));  // 2
        log.Marker(7, commit: false);         // 3
        Assert.Equal(2, TxnLog.TxnIndexFiles(LogDir).Count);

        log.TruncateTo(3);
        Assert.Equal([new AbortedTxnEntry(7, 0, 1, 2)], TxnLog.TxnIndexFiles(LogDir));
        Assert.Equal(2, log.TxnStart(7));
        Assert.Equal(2, log.LastStableOffset);

        log.TruncateTo(1);
        Assert.Empty(TxnLog.TxnIndexFiles(LogDir));
        Assert.Equal(0, log.TxnStart(7));
    }

    [Fact]
    public void TxnIndex_IsDeletedWithItsSegment_ByRetentionAndDeleteRecords()
    {
        var config = LogConfig.Default with { SegmentBytes = 200, FileDeleteDelayMs = 0 };
        using var log = LogExtensions.OpenLog(LogDir, config);
        for (var i = 0; i < 8; i++)
        {
            log.Append(TxnLog.Data(7, 0, i, i));
            log.Marker(7, commit: false);
        }

        Assert.True(log.SegmentCount > 2, $"{log.SegmentCount} segments");
        var withIndex = Directory.GetFiles(LogDir, "*.txnindex").Length;
        Assert.True(withIndex >= 2, $"{withIndex} txnindex files");
        log.DeleteRecordsBefore(log.SegmentBaseOffsets[1]);
        log.ApplyRetention(0);
        Assert.Equal(withIndex - 1, Directory.GetFiles(LogDir, "*.txnindex").Length);
        Assert.All(TxnLog.TxnIndexFiles(LogDir), e => Assert.True(e.LastOffset >= log.LogStartOffset));
        Assert.Equal(TxnLog.TxnIndexFiles(LogDir).Count, log.CollectAbortedTransactions(log.LogStartOffset, log.LogEndOffset).Count);

        log.Delete();
        Assert.False(Directory.Exists(LogDir));
    }

    [Fact]
    public void TxnIndex_IsRebuiltAfterAnUncleanStop_AndATornMarkerReopensItsTransaction()
    {
        var log = LogExtensions.OpenLog(LogDir);
        log.Append(TxnLog.Data(7, 0, 0, 1));   // 0
        log.Marker(7, commit: false);          // 1
        log.Append(TxnLog.Data(8, 0, 0, 2));   // 2
        log.Append(TxnLog.Data(7, 0, 1, 3));   // 3
        log.Marker(7, commit: false);          // 4
        var crashed = _dir.Sub("crashed");
        CrashCopy.Directory(LogDir, crashed);
        log.Dispose();

        // The index file lost (never flushed) and the last marker torn: recovery cuts the marker and rebuilds the rest.
        File.Delete(Path.Combine(crashed, "00000000000000000000.txnindex"));
        var segment = Path.Combine(crashed, "00000000000000000000.log");
        var bytes = File.ReadAllBytes(segment);
        File.WriteAllBytes(segment, bytes[..^3]);
        foreach (var snapshot in Directory.GetFiles(crashed, "*.snapshot"))
        {
            File.Delete(snapshot); // what a crash leaves: no close snapshot
        }

        using var recovered = LogExtensions.OpenLog(crashed, clean: false);
        Assert.Equal(4, recovered.LogEndOffset);
        Assert.Equal([new AbortedTxnEntry(7, 0, 1, 2)], TxnLog.TxnIndexFiles(crashed));
        Assert.Equal(2, recovered.LastStableOffset);
        Assert.Equal(3, recovered.TxnStart(7));
    }

    [Fact]
    public void TxnIndex_WithWrongEntries_IsRebuiltFromTheMarkersAfterAnUncleanStop()
    {
        var log = LogExtensions.OpenLog(LogDir);
        log.Append(TxnLog.Data(7, 0, 0, 1));
        log.Marker(7, commit: false);
        log.Append(TxnLog.Data(7, 0, 1, 2));
        log.Marker(7, commit: true);
        var crashed = _dir.Sub("crashed");
        CrashCopy.Directory(LogDir, crashed);
        log.Dispose();
        File.WriteAllBytes(Path.Combine(crashed, "00000000000000000000.txnindex"), new byte[34 * 3 + 5]);

        using var recovered = LogExtensions.OpenLog(crashed, clean: false);
        Assert.Equal([new AbortedTxnEntry(7, 0, 1, 2)], TxnLog.TxnIndexFiles(crashed));
        Assert.Equal([2], recovered.ReadCommitted());
    }

    [Fact]
    public void Follower_AppliesMarkersThroughTheSameState()
    {
        using var leader = LogExtensions.OpenLog(LogDir);
        leader.Append(TxnLog.Data(7, 0, 0, 1));
        leader.Marker(7, commit: false);
        leader.Append(TxnLog.Data(7, 0, 1, 2));
        var bytes = leader.Read(0, int.MaxValue).ReadBytes();

        using var follower = LogExtensions.OpenLog(_dir.Sub("follower"));
        follower.AppendAsFollower(bytes);
        follower.HighWatermark = follower.LogEndOffset;
        Assert.Equal(2, follower.LastStableOffset);
        Assert.Equal([new AbortedTxn(7, 0)], follower.CollectAbortedTransactions(0, 3));
        Assert.Equal(2, follower.TxnStart(7));
    }

    [Fact]
    public void Snapshot_RoundTripsOpenTransactionsAndCoordinatorEpochs()
    {
        var state = new ProducerStateManager(LogDir);
        Apply(state, TxnLog.Data(7, 1, 0, 1), 10);
        Apply(state, TxnLog.Data(8, 0, -1, 2), 11); // a coordinator's batch: no sequence
        Apply(state, new EndTransactionMarker(false, 4).ToBatch(8, 0, 1_000), 12);

        var decoded = ProducerSnapshotFile.Decode(ProducerSnapshotFile.Encode([state.TryGet(7, out var a) ? a : null!, state.TryGet(8, out var b) ? b : null!]));

        Assert.Equal((10L, -1, (short)1, 0), (decoded[7].CurrentTxnFirstOffset, decoded[7].CoordinatorEpoch, decoded[7].ProducerEpoch, decoded[7].LastSequence));
        Assert.Equal((-1L, 4, (short)0, -1), (decoded[8].CurrentTxnFirstOffset, decoded[8].CoordinatorEpoch, decoded[8].ProducerEpoch, decoded[8].LastSequence));
        Assert.Equal(1_000, decoded[8].LastTimestamp);
    }

    [Fact]
    public void Snapshot_WrittenBeforeTransactions_StillLoads()
    {
        // Version 1 as Levee wrote it before transactions: one row per cached batch, coordinator epoch and transaction
        // first offset -1. Producer 42, epoch 2, one batch of sequences 0-1 at offsets 5-6, timestamp 1000.
        var bytes = new byte[10 + 46];
        var span = bytes.AsSpan();
        System.Buffers.Binary.BinaryPrimitives.WriteInt16BigEndian(span, 1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(span[6..], 1);
        var e = span[10..];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(e, 42);
        System.Buffers.Binary.BinaryPrimitives.WriteInt16BigEndian(e[8..], 2);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(e[10..], 1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(e[14..], 6);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(e[22..], 1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(e[26..], 1_000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(e[34..], -1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(e[38..], -1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(span[2..], Crc32C.Compute(span[6..]));
        Directory.CreateDirectory(LogDir);
        File.WriteAllBytes(ProducerSnapshotFile.PathFor(LogDir, 0), bytes);

        var state = new ProducerStateManager(LogDir);
        Assert.Equal(0, state.LoadLatestSnapshot(10));
        Assert.True(state.TryGet(42, out var entry));
        Assert.Equal((-1L, -1, (short)2, 1, 6L), (entry.CurrentTxnFirstOffset, entry.CoordinatorEpoch, entry.ProducerEpoch, entry.LastSequence, entry.LastOffset));
        Assert.Empty(state.UnstableTransactions());
    }

    private static void Apply(ProducerStateManager state, byte[] batch, long offset)
    {
        RecordBatchHeader.WriteBaseOffset(batch, offset);
        var header = new RecordBatchHeader(batch);
        state.Apply(header, EndTransactionMarker.TryRead(batch, out var marker) ? marker : null);
    }
}
