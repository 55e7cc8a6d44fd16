using Levee.Protocol;
using Levee.Protocol.Records;
using Levee.Storage.ProducerState;

namespace Levee.Storage.Tests.ProducerState;

public sealed class ProducerStateManagerTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ProducerStateManager _state;
    private long _nextOffset;

    public ProducerStateManagerTests() => _state = new ProducerStateManager(_dir.Path);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void RetryOfAnyOfTheLastFiveBatches_IsADuplicateWithItsOriginalOffsets()
    {
        for (var seq = 0; seq < 12; seq += 2)
        {
            Append(7, 0, seq, records: 2);
        }

        // Six batches appended: the first (seq 0-1) has left the cache, the second (seq 2-3, offsets 2-3) has not.
        Assert.True(Check(7, 0, 2, 3, out var original));
        Assert.Equal(2, original.FirstOffset);
        Assert.Equal(3, original.LastOffset);
        var e = Assert.Throws<ProducerStateException>(() => Check(7, 0, 0, 1, out _));
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, e.ErrorCode);
    }

    [Fact]
    public void SequenceGap_IsOutOfOrder()
    {
        Append(1, 0, 0);
        var e = Assert.Throws<ProducerStateException>(() => Check(1, 0, 2, 2, out _));
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, e.ErrorCode);
        Assert.False(Check(1, 0, 1, 1, out _));
    }

    [Fact]
    public void OlderEpoch_IsInvalidProducerEpoch()
    {
        Append(1, 3, 0);
        var e = Assert.Throws<ProducerStateException>(() => Check(1, 2, 1, 1, out _));
        Assert.Equal(ErrorCode.InvalidProducerEpoch, e.ErrorCode);
    }

    [Fact]
    public void NewEpoch_MustStartAtSequenceZero()
    {
        Append(1, 0, 0);
        Append(1, 0, 1);
        var e = Assert.Throws<ProducerStateException>(() => Check(1, 1, 2, 2, out _));
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, e.ErrorCode);
        Assert.False(Check(1, 1, 0, 0, out _));
    }

    [Fact]
    public void UnknownProducer_IsAcceptedAtAnySequence_AsKafkaDoesSinceKip360()
    {
        Assert.False(Check(99, 4, 1234, 1234, out _));
    }

    [Fact]
    public void Sequences_WrapFromIntMaxValueToZero()
    {
        Append(5, 0, int.MaxValue - 1, records: 2);
        Assert.Equal(int.MaxValue, Entry(5).LastSequence);
        Assert.False(Check(5, 0, 0, 0, out _));

        // A batch straddling the wrap: its last sequence is 1.
        Append(6, 0, int.MaxValue, records: 3);
        Assert.Equal(1, Entry(6).LastSequence);
        Assert.True(Check(6, 0, int.MaxValue, 1, out _));
        Assert.False(Check(6, 0, 2, 2, out _));
    }

    [Fact]
    public void SeveralBatchesOfOneProducerInOneAppend_AreCheckedAgainstEachOther()
    {
        Append(1, 0, 0);
        _state.BeginClientAppend();
        Assert.False(_state.CheckClientBatch(1, 0, 1, 1, false, AppendOrigin.Client, 0, out _));
        Assert.False(_state.CheckClientBatch(1, 0, 2, 2, false, AppendOrigin.Client, 0, out _));
        Assert.Throws<ProducerStateException>(() => _state.CheckClientBatch(1, 0, 4, 4, false, AppendOrigin.Client, 0, out _));
    }

    [Fact]
    public void Snapshot_RoundTripsAllCachedBatches_AndRejectsACorruptFile()
    {
        for (var seq = 0; seq < 7; seq++)
        {
            Append(1, 2, seq);
        }

        Append(2, 0, int.MaxValue, records: 3);
        _state.MapEndOffset = _nextOffset;
        _state.TakeSnapshot();

        var loaded = new ProducerStateManager(_dir.Path);
        Assert.Equal(_nextOffset, loaded.LoadLatestSnapshot(long.MaxValue));
        Assert.True(loaded.TryGet(1, out var one));
        Assert.Equal(Entry(1).Batches, one.Batches);
        Assert.Equal(2, one.ProducerEpoch);
        Assert.True(loaded.TryGet(2, out var two));
        Assert.Equal(Entry(2).Batches, two.Batches);

        var path = ProducerSnapshotFile.PathFor(_dir.Path, _nextOffset);
        var bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 1;
        Assert.Throws<InvalidDataException>(() => ProducerSnapshotFile.Decode(bytes));
        File.WriteAllBytes(path, bytes);
        Assert.Equal(-1, new ProducerStateManager(_dir.Path).LoadLatestSnapshot(long.MaxValue));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Snapshot_KeepsTheLastTwo_AndIgnoresThoseAboveTheLogEnd()
    {
        foreach (var offset in new long[] { 10, 20, 30 })
        {
            Append(1, 0, (int)offset);
            _state.MapEndOffset = offset;
            _state.TakeSnapshot();
        }

        Assert.Equal([20L, 30L], ProducerSnapshotFile.List(_dir.Path));
        var loaded = new ProducerStateManager(_dir.Path);
        Assert.Equal(20, loaded.LoadLatestSnapshot(25));
        Assert.Equal([20L], ProducerSnapshotFile.List(_dir.Path));
    }

    [Fact]
    public void Expiration_RemovesProducersIdleForTheExpirationTime()
    {
        Append(1, 0, 0, timestamp: 1_000);
        Append(2, 0, 0, timestamp: 5_000);
        Assert.Equal(1, _state.RemoveExpired(nowMs: 11_000, expirationMs: 10_000));
        Assert.False(_state.TryGet(1, out _));
        Assert.True(_state.TryGet(2, out _));
    }

    private bool Check(long producerId, short epoch, int firstSeq, int lastSeq, out BatchMetadata original)
    {
        _state.BeginClientAppend();
        return _state.CheckClientBatch(producerId, epoch, firstSeq, lastSeq, false, AppendOrigin.Client, _nextOffset, out original);
    }

    private void Append(long producerId, short epoch, int baseSequence, int records = 1, long timestamp = 1_700_000_000_000)
    {
        var batch = ProducerBatches.Build(producerId, epoch, baseSequence, records, timestamp);
        RecordBatchHeader.WriteBaseOffset(batch, _nextOffset);
        var header = new RecordBatchHeader(batch);
        _state.Apply(header);
        _nextOffset = header.LastOffset + 1;
    }

    private ProducerStateEntry Entry(long producerId)
    {
        Assert.True(_state.TryGet(producerId, out var entry));
        return entry;
    }
}
