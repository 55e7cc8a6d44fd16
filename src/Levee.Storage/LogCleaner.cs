using Microsoft.Extensions.Logging;

namespace Levee.Storage;

/// <summary>
/// The background log cleaner (Kafka's LogCleaner): <c>log.cleaner.threads</c> threads, each taking in turn the
/// compacted log most in need (a log past its <c>max.compaction.lag.ms</c> first, then the largest dirty ratio at or
/// above its <c>min.cleanable.dirty.ratio</c>), cleaning it, and sleeping <c>log.cleaner.backoff.ms</c> when no log
/// qualifies. Threads are dedicated (a throttled cleaner sleeps, never on the thread pool).
/// </summary>
internal sealed partial class LogCleaner : IDisposable
{
    private readonly Func<IReadOnlyCollection<PartitionLog>> _logs;
    private readonly LogManagerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread[] _threads;
    private long _passes;

    public LogCleaner(Func<IReadOnlyCollection<PartitionLog>> logs, LogManagerOptions options, TimeProvider time, ILogger logger)
    {
        _logs = logs;
        _options = options;
        _time = time;
        _logger = logger;
        var throttler = new CleanerThrottler(options.CleanerIoMaxBytesPerSecond, time);
        _threads = new Thread[options.CleanerThreads];
        for (var i = 0; i < _threads.Length; i++)
        {
            var resources = new CleanerResources(options.CleanerDedupeBufferSize / options.CleanerThreads, options.CleanerIoBufferLoadFactor, throttler);
            _threads[i] = new Thread(() => Run(resources)) { IsBackground = true, Name = $"levee-log-cleaner-{i}" };
        }
    }

    /// <summary>Cleanings that replaced segments, since the start.</summary>
    public long Passes => Interlocked.Read(ref _passes);

    public void Start()
    {
        foreach (var thread in _threads)
        {
            thread.Start();
        }
    }

    private void Run(CleanerResources resources)
    {
        using (resources)
        {
            var token = _stop.Token;
            while (!token.IsCancellationRequested)
            {
                if (!CleanOne(resources, token))
                {
                    token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(_options.CleanerBackoffMs));
                }
            }
        }
    }

    /// <summary>Cleans the log most in need, if any qualifies; false when none did.</summary>
    internal bool CleanOne(CleanerResources resources, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var candidates = new List<CleanableLog>();
        foreach (var log in _logs())
        {
            if (log.FindCleanable(now) is { } cleanable && (cleanable.MaxCompactionLagDue || cleanable.DirtyRatio >= log.Config.MinCleanableDirtyRatio))
            {
                candidates.Add(cleanable);
            }
        }

        foreach (var candidate in candidates.OrderByDescending(c => c.MaxCompactionLagDue).ThenByDescending(c => c.DirtyRatio))
        {
            var log = candidate.Log;
            if (!log.TryBeginCleaning())
            {
                continue;
            }

            try
            {
                if (log.Clean(now, resources, cancellationToken) is { SegmentsCleaned: > 0 })
                {
                    Interlocked.Increment(ref _passes);
                }

                return true;
            }
            catch (OperationCanceledException)
            {
                return true;
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException or InvalidDataException)
            {
                // The log was closed or deleted under the cleaner, or a segment is unreadable: tried again later.
                LogCleaningFailed(_logger, log.TopicPartition, e);
                return false;
            }
            finally
            {
                log.EndCleaning();
            }
        }

        return false;
    }

    /// <summary>Stops the threads, waiting for a cleaning in progress to stop at its next batch.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        foreach (var thread in _threads)
        {
            if (thread.IsAlive)
            {
                thread.Join();
            }
        }

        _stop.Dispose();
    }

    [LoggerMessage(EventName = "CleaningFailed", Level = LogLevel.Warning, Message = "Cleaning {TopicPartition} failed; it is tried again later")]
    private static partial void LogCleaningFailed(ILogger logger, TopicPartition topicPartition, Exception exception);
}
