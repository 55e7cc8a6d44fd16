using System.Globalization;
using System.Text;

namespace Levee.Storage;

/// <summary>
/// The partition's leader epoch history, persisted as Kafka's <c>leader-epoch-checkpoint</c>:
/// a version line (0), a count line, then one "epoch startOffset" line per entry, written atomically (temp file,
/// fsync, rename).
/// </summary>
/// <remarks>
/// A truncation is written at once (or, on a full disk, as soon as it can be). A new epoch (<see cref="Assign"/>, the first append of every partition after a
/// leader change) is only marked dirty and written by <see cref="PersistIfDirty"/>, which the log calls before its
/// recovery point moves and on close: an fsync per partition on the append path made a leader change over thousands of
/// partitions take seconds. The file therefore never lacks an entry for data below the recovery point, and recovery
/// re-assigns epochs from the batches it rescans above it, as Kafka's log loader does.
/// </remarks>
internal sealed class LeaderEpochCheckpoint
{
    public const string FileName = "leader-epoch-checkpoint";

    private readonly string _path;
    private readonly Lock _writeLock = new();
    private EpochEntry[] _entries;
    private int _dirty;

    // 1 while the latest entry was begun by a new leader at its log end and holds no record yet (Begin).
    private int _begun;

    private LeaderEpochCheckpoint(string path, EpochEntry[] entries)
    {
        _path = path;
        _entries = entries;
    }

    public IReadOnlyList<EpochEntry> Entries => Volatile.Read(ref _entries);

    public int LatestEpoch => Volatile.Read(ref _entries) is { Length: > 0 } e ? e[^1].Epoch : -1;

    public static LeaderEpochCheckpoint Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var entries = new List<EpochEntry>();
        if (File.Exists(path))
        {
            foreach (var (a, b) in CheckpointFile.ReadPairs(path))
            {
                entries.Add(new EpochEntry(int.Parse(a, CultureInfo.InvariantCulture), long.Parse(b, CultureInfo.InvariantCulture)));
            }
        }

        return new LeaderEpochCheckpoint(path, [.. entries]);
    }

    /// <summary>Records that <paramref name="epoch"/> starts at <paramref name="startOffset"/> if it is newer than the latest.</summary>
    public void Assign(int epoch, long startOffset)
    {
        if (epoch >= 0 && epoch == LatestEpoch && Interlocked.Exchange(ref _begun, 0) == 1)
        {
            // The first record of an epoch begun empty: now the entry is worth writing.
            Volatile.Write(ref _dirty, 1);
            return;
        }

        if (Replace(epoch, startOffset))
        {
            Volatile.Write(ref _begun, 0);
            Volatile.Write(ref _dirty, 1);
        }
    }

    /// <summary>
    /// A new leader's epoch, begun at the log end before any record: in the entries at once (a follower asking where
    /// its own epoch ends is answered from them), but not marked for writing until its first record is assigned. An
    /// empty epoch needs no fsync: after a restart the leader begins it again from the metadata image; a broker
    /// elected for thousands of partitions would otherwise write and fsync thousands of files at its next flush.
    /// </summary>
    public void Begin(int epoch, long startOffset)
    {
        if (Replace(epoch, startOffset))
        {
            Volatile.Write(ref _begun, 1);
        }
    }

    // Appends the entry if the epoch is newer than the latest; a stale entry whose start offset is not below the new
    // one can no longer be right (Kafka drops it too).
    private bool Replace(int epoch, long startOffset)
    {
        if (epoch < 0 || epoch <= LatestEpoch)
        {
            return false;
        }

        var entries = _entries;
        var kept = entries.Where(e => e.StartOffset < startOffset).Append(new EpochEntry(epoch, startOffset)).ToArray();
        Volatile.Write(ref _entries, kept);
        return true;
    }

    /// <summary>Writes the file if an <see cref="Assign"/> changed the entries since the last write.</summary>
    public void PersistIfDirty()
    {
        if (Interlocked.Exchange(ref _dirty, 0) == 1)
        {
            try
            {
                Write();
            }
            catch
            {
                // Not written (a full disk): the next flush tries again, and the recovery point does not move.
                Volatile.Write(ref _dirty, 1);
                throw;
            }
        }
    }

    /// <summary>Drops entries starting at or after <paramref name="endOffset"/> (log truncated to it).</summary>
    public void TruncateFromEnd(long endOffset)
    {
        var entries = _entries;
        if (entries.Length > 0 && entries[^1].StartOffset >= endOffset)
        {
            Publish([.. entries.Where(e => e.StartOffset < endOffset)]);
        }
    }

    /// <summary>Log start moved to <paramref name="startOffset"/>: entries before it collapse into one starting there.</summary>
    public void TruncateFromStart(long startOffset)
    {
        var entries = _entries;
        if (entries.Length == 0 || entries[0].StartOffset >= startOffset)
        {
            return;
        }

        var list = new List<EpochEntry>();
        EpochEntry? lastBefore = null;
        foreach (var e in entries)
        {
            if (e.StartOffset <= startOffset)
            {
                lastBefore = e;
            }
            else
            {
                list.Add(e);
            }
        }

        if (lastBefore is { } l)
        {
            list.Insert(0, new EpochEntry(l.Epoch, startOffset));
        }

        Publish([.. list]);
    }

    public void Clear()
    {
        if (_entries.Length > 0)
        {
            Publish([]);
        }
    }

    /// <summary>OffsetForLeaderEpoch over these entries: <see cref="LeaderEpochs.EndOffsetFor"/>.</summary>
    public (int Epoch, long EndOffset) EndOffsetFor(int requestedEpoch, long logEndOffset) =>
        LeaderEpochs.EndOffsetFor(Volatile.Read(ref _entries), requestedEpoch, logEndOffset);

    /// <summary>Epoch in force at <paramref name="offset"/>, -1 if unknown.</summary>
    public int EpochAt(long offset)
    {
        var entries = Volatile.Read(ref _entries);
        for (var i = entries.Length - 1; i >= 0; i--)
        {
            if (entries[i].StartOffset <= offset)
            {
                return entries[i].Epoch;
            }
        }

        return -1;
    }

    private void Publish(EpochEntry[] entries)
    {
        // Truncations drop the latest entry first: whatever is latest now holds records.
        Volatile.Write(ref _begun, 0);
        Volatile.Write(ref _entries, entries);
        Volatile.Write(ref _dirty, 0);
        try
        {
            Write();
        }
        catch (IOException e) when (DiskSpace.IsOutOfSpace(e))
        {
            // A full disk: written by the next flush (before the recovery point moves) or the close. Until then the
            // file may hold entries past the log's end or before its start, which every open cuts again
            // (TruncateFromEnd/TruncateFromStart), and entries a recovery rescans are assigned again: a truncation
            // written late is never read wrong, and a full disk does not stop an open, a truncation or retention.
            Volatile.Write(ref _dirty, 1);
        }
    }

    private void Write()
    {
        lock (_writeLock)
        {
            // The newest entries, whoever changed them last: a racing writer can only write the same or newer.
            var entries = Volatile.Read(ref _entries);
            var text = new StringBuilder();
            foreach (var e in entries)
            {
                text.Append(CultureInfo.InvariantCulture, $"{e.Epoch} {e.StartOffset}\n");
            }

            CheckpointFile.Write(_path, entries.Length, text.ToString());
        }
    }
}
