using Levee.Storage.ProducerState;
using Levee.Storage.Tests.ProducerState;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Levee.Storage.Tests;

/// <summary>
/// A full disk, simulated: the free space the <see cref="LogDirectorySpace"/> measures is set by the test (a real one
/// on a small file system is tests/Levee.Faults/DiskFullTests.cs). Appends are refused as a full disk refuses them,
/// the log stays as it was and readable, it says so once, and appends work again once space is freed.
/// </summary>
public sealed class FullDiskTests : IDisposable
{
    private const long Reserve = 1024 * 1024;
    private const long Quarter = Reserve / 4;
    private const long Plenty = 1L << 40;
    private readonly TempDir _dir = new();
    private readonly RecordingLogger _logger = new();

    /// <summary>The free space with the whole reserve held; what the broker released of it is free too.</summary>
    private long _free = Plenty;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Append_UnderTheReserve_IsRefusedAsAFullDisk_LeavesTheLogReadable_AndIsLoggedOncePerRun()
    {
        var space = NewSpace();
        using var log = OpenLog(space);
        log.Append(TestBatches.Build(3));

        SetFree(space, Reserve + 10);
        for (var i = 0; i < 50; i++)
        {
            var refused = Assert.Throws<IOException>(() => log.Append(TestBatches.Build(2)));
            Assert.True(DiskSpace.IsOutOfSpace(refused));
        }

        Assert.Equal(3, log.LogEndOffset);
        Assert.Equal([(0L, 2L)], log.ReadAllOffsets(0));
        Assert.Single(_logger.Lines, l => l.Message.Contains("Appends to orders-0 fail from offset 3", StringComparison.Ordinal));
        Assert.All(_logger.Lines, l => Assert.Null(l.Exception));

        SetFree(space, Plenty);
        Assert.Equal(3, log.Append(TestBatches.Build(2)).FirstOffset);
        Assert.Single(_logger.Lines, l => l.Message.Contains("Appends to orders-0 succeed again", StringComparison.Ordinal) && l.Message.Contains("; 50 were refused", StringComparison.Ordinal));
    }

    [Fact]
    public void InternalTopics_MayUseTheReserve()
    {
        var space = NewSpace();
        using var log = PartitionLog.Open(_dir.Sub("__consumer_offsets-0"), new TopicPartition("__consumer_offsets", 0), LogConfig.Default, 0, true, _logger, new ManualTimeProvider(), 0, SegmentFileCache.Shared, space);
        SetFree(space, Reserve + 10);

        Assert.Equal(0, log.Append(TestBatches.Build(1)).FirstOffset);
    }

    [Fact]
    public void IdempotentPipeline_OnAFullDisk_IsRefusedInOrder_NotOutOfSequence_AndAppendedOnceSpaceIsFreed()
    {
        var space = NewSpace();
        using var log = OpenLog(space);
        log.Append(ProducerBatches.Build(producerId: 7, epoch: 0, baseSequence: 0));

        // Two batches in flight when the disk fills: the second must be refused as the first is (the client retries
        // both in order), not answered out of sequence (the client would bump its epoch at every round).
        SetFree(space, Reserve);
        Assert.True(DiskSpace.IsOutOfSpace(Assert.Throws<IOException>(() => log.Append(ProducerBatches.Build(7, 0, 1)))));
        Assert.True(DiskSpace.IsOutOfSpace(Assert.Throws<IOException>(() => log.Append(ProducerBatches.Build(7, 0, 2)))));

        // Space freed between the two retries' arrival: the later batch, out of sequence because the earlier one was
        // refused, is refused too while appends are failing.
        SetFree(space, Plenty);
        Assert.Throws<IOException>(() => log.Append(ProducerBatches.Build(7, 0, 2)));
        Assert.Equal(1, log.Append(ProducerBatches.Build(7, 0, 1)).FirstOffset);
        Assert.Equal(2, log.Append(ProducerBatches.Build(7, 0, 2)).FirstOffset);

        // Once appends work, out of sequence is out of sequence again.
        Assert.Throws<ProducerStateException>(() => log.Append(ProducerBatches.Build(7, 0, 9)));
    }

    [Fact]
    public void Reserve_IsReleasedAQuarterAtATimeWhenTheDiskIsFull_AndHeldAgainOnceSpaceIsFreed()
    {
        var space = NewSpace();
        Assert.Equal(Reserve, space.HeldBytes);

        // Something else fills the disk: a quarter is released, and that is enough until the metadata log uses it.
        SetFree(space, 0);
        Assert.Equal(3 * Quarter, space.HeldBytes);
        space.Maintain();
        space.EnsureMetadataRoom();
        Assert.Equal(3 * Quarter, space.HeldBytes);

        // The metadata log used it: the next append gets another quarter.
        _free = -Quarter;
        space.EnsureMetadataRoom();
        Assert.Equal(2 * Quarter, space.HeldBytes);

        _free = -3 * Quarter;
        space.Maintain();
        space.Maintain();
        Assert.Equal(0, space.HeldBytes);
        _free = -4 * Quarter;
        Assert.True(DiskSpace.IsOutOfSpace(Assert.Throws<IOException>(space.EnsureMetadataRoom)));

        SetFree(space, Plenty);
        Assert.Equal(Reserve, space.HeldBytes);
        Assert.Equal(4, _logger.Lines.Count(l => l.Message.Contains("released", StringComparison.Ordinal)));
        Assert.Single(_logger.Lines, l => l.Message.Contains("again: space was freed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LogManager_ClosingWhenNothingCanBeWritten_ClosesEveryLog_LeavesNoMarker_AndTheNextOpenRecovers()
    {
        var tp = new TopicPartition("orders", 0);
        var options = new LogManagerOptions { DataDirectory = _dir.Path, ClusterId = "test-cluster" };
        var manager = LogManager.Open(options, new RecordingLoggerFactory(_logger), new ManualTimeProvider());
        manager.GetOrCreate(tp).Append(TestBatches.Build(3), epoch: 2);

        // The checkpoints' and the epoch file's temporary files cannot be created, as on a full disk.
        var blockers = new[] { "recovery-point-offset-checkpoint.tmp", "log-start-offset-checkpoint.tmp", Path.Combine("orders-0", "leader-epoch-checkpoint.tmp") }
            .Select(_dir.Sub).ToList();
        blockers.ForEach(b => Directory.CreateDirectory(b));

        await manager.DisposeAsync();

        Assert.False(File.Exists(_dir.Sub(LogManager.CleanShutdownFileName)));
        Assert.Single(_logger.Lines, l => l.Message.Contains("not cleanly", StringComparison.Ordinal));
        blockers.ForEach(b => Directory.Delete(b));
        await using var reopened = LogManager.Open(options, NullLoggerFactory.Instance, new ManualTimeProvider());
        Assert.False(reopened.HadCleanShutdown);
        Assert.True(reopened.TryGet(tp, out var log));
        Assert.Equal(3, log.LogEndOffset);
        Assert.Equal((2, 3L), log.EndOffsetForEpoch(2));
    }

    private LogDirectorySpace NewSpace()
    {
        var reserve = Path.Combine(_dir.Sub("space"), LogDirectorySpace.ReserveDirectoryName);
        return new(_dir.Sub("space"), _logger, Reserve, () => Interlocked.Read(ref _free) + ((4 - (Directory.Exists(reserve) ? Directory.GetFiles(reserve).Length : 0)) * Quarter));
    }

    /// <summary>Sets the free space and lets the space's background pass see it, as the log manager's loop does every second.</summary>
    private void SetFree(LogDirectorySpace space, long free)
    {
        Interlocked.Exchange(ref _free, free);
        space.Maintain();
    }

    private PartitionLog OpenLog(LogDirectorySpace space) =>
        PartitionLog.Open(_dir.Sub("orders-0"), LogExtensions.Tp, LogConfig.Default, 0, true, _logger, new ManualTimeProvider(), 0, SegmentFileCache.Shared, space);

    /// <summary>Keeps every line logged, with its exception.</summary>
    private sealed class RecordingLogger : ILogger
    {
        private readonly List<(string Message, Exception? Exception)> _lines = [];

        public IReadOnlyList<(string Message, Exception? Exception)> Lines
        {
            get
            {
                lock (_lines)
                {
                    return [.. _lines];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lock (_lines)
                {
                    _lines.Add((formatter(state, exception), exception));
                }
            }
        }
    }

    private sealed class RecordingLoggerFactory(ILogger logger) : ILoggerFactory
    {
        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => logger;

        public void Dispose()
        {
        }
    }
}
