using Levee.Storage;

namespace Levee.Broker.Partitions;

/// <summary>
/// One partition this broker leads: its log, its leader epoch and a signal for fetches waiting on
/// new data. On a single broker the high watermark follows the log end as soon as a batch is appended.
/// </summary>
public sealed class Partition
{
    private readonly Lock _appendLock = new();
    private TaskCompletionSource _appended = NewSignal();

    /// <summary>Wraps an open log.</summary>
    public Partition(TopicPartition id, Guid topicId, PartitionLog log)
    {
        Id = id;
        TopicId = topicId;
        Log = log;
    }

    /// <summary>The topic and partition index.</summary>
    public TopicPartition Id { get; }

    /// <summary>The topic's id.</summary>
    public Guid TopicId { get; }

    /// <summary>The partition's log.</summary>
    public PartitionLog Log { get; }

    /// <summary>The leader epoch stamped into appended batches.</summary>
    public int LeaderEpoch { get; }

    /// <summary>Offsets below this are readable by consumers.</summary>
    public long HighWatermark => Log.HighWatermark;

    /// <summary>Completes at the next append: what a delayed fetch waits on.</summary>
    public Task NextAppend => Volatile.Read(ref _appended).Task;

    /// <summary>Appends validated batches as leader, advances the high watermark and wakes waiting fetches.</summary>
    public LogAppendInfo Append(Span<byte> batches, bool useLogAppendTime)
    {
        LogAppendInfo info;
        lock (_appendLock)
        {
            info = Log.AppendAsLeader(batches, LeaderEpoch, useLogAppendTime);
            Log.HighWatermark = Log.LogEndOffset;
        }

        Interlocked.Exchange(ref _appended, NewSignal()).TrySetResult();
        return info;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
