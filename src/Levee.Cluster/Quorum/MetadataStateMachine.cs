using DotNext.IO;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Levee.Cluster.Metadata;
using Microsoft.Extensions.Logging;

namespace Levee.Cluster.Quorum;

/// <summary>
/// The Raft state machine of the metadata log: applies each committed entry (a batch of
/// records) to the image and hands the new image to <see cref="MetadataQuorum"/>. DotNext's
/// <see cref="SimpleStateMachine"/> keeps the snapshot files ("index-term", the serialised image)
/// and lets the WAL drop the entries a snapshot covers.
/// </summary>
/// <remarks>
/// DotNext never calls <see cref="ApplyAsync"/> concurrently, and it finishes a snapshot before
/// applying the next entry, so the fields need no lock; <see cref="MetadataQuorum"/> reads the
/// published image only.
/// </remarks>
internal sealed partial class MetadataStateMachine(
    DirectoryInfo location,
    int snapshotIntervalEntries,
    Action<MetadataImage> publish,
    ILogger logger) : SimpleStateMachine(location)
{
    private MetadataImage _image = MetadataImage.Empty;
    private MetadataImage _snapshotImage = MetadataImage.Empty;
    private long _entriesSinceSnapshot;

    /// <summary>The image after the last applied entry.</summary>
    public MetadataImage Image => Volatile.Read(ref _image);

    protected override async ValueTask RestoreAsync(FileInfo snapshotFile, CancellationToken token)
    {
        var bytes = await File.ReadAllBytesAsync(snapshotFile.FullName, token).ConfigureAwait(false);
        var image = MetadataImage.FromSnapshot(bytes);
        _entriesSinceSnapshot = 0;
        LogRestored(snapshotFile.Name, image.Offset);
        Publish(image);
    }

    protected override ValueTask PersistAsync(IAsyncBinaryWriter writer, CancellationToken token) =>
        writer.Invoke(_snapshotImage.ToSnapshot(), token);

    protected override ValueTask<bool> ApplyAsync(LogEntry entry, CancellationToken token)
    {
        var ticket = entry.Context as AppendTicket;
        var image = _image;

        // Configuration entries (membership) and the empty entry a new leader commits carry no records.
        if (!entry.IsConfiguration && entry.TryGetPayload(out var payload) && !payload.IsEmpty)
        {
            try
            {
                image = image.Apply(MetadataRecordCodec.DecodeBatch(payload));
            }
            catch (Exception e) when (e is MetadataFormatException or InvalidMetadataRecordException)
            {
                // The leader checks every batch before appending, so this is a bug or a race between two
                // controllers. Skipping the whole batch is deterministic: every node skips it alike.
                LogSkippedBatch(e, entry.Index);
                ticket?.Rejected = e;
            }
        }

        image = image.WithOffset(entry.Index);
        ticket?.Index = entry.Index;
        Publish(image);

        if (++_entriesSinceSnapshot < snapshotIntervalEntries)
        {
            return ValueTask.FromResult(false);
        }

        _entriesSinceSnapshot = 0;
        _snapshotImage = image;
        return ValueTask.FromResult(true);
    }

    private void Publish(MetadataImage image)
    {
        Volatile.Write(ref _image, image);
        publish(image);
    }

    [LoggerMessage(EventName = "Restored", Level = LogLevel.Information, Message = "Metadata image restored from snapshot {File} at offset {Offset}")]
    private partial void LogRestored(string file, long offset);

    [LoggerMessage(EventName = "SkippedBatch", Level = LogLevel.Error, Message = "Committed metadata batch at offset {Offset} does not apply and is skipped")]
    private partial void LogSkippedBatch(Exception exception, long offset);
}

/// <summary>Passed as the log entry's context on the leader, so the appender learns where its batch landed.</summary>
internal sealed class AppendTicket
{
    public long Index { get; set; }

    public Exception? Rejected { get; set; }
}
