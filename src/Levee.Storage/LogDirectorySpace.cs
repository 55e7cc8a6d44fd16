using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Levee.Storage;

/// <summary>
/// Keeps the file system of a data directory from filling up under the metadata log. Partition data stops a reserve
/// short of full (<see cref="CheckDataAppend"/> refuses an append, as a full disk would, once the free space would fall
/// under <see cref="ReserveBytes"/>), so the metadata log, the checkpoints and the consumer offsets find room after
/// produce is refused. As much again is held in reserve files (<see cref="ReserveDirectoryName"/>), released a
/// quarter at a time when something else fills the disk to the last byte, and held again once space is freed.
/// </summary>
/// <remarks>
/// Why the metadata log needs room rather than an error: DotNext's write-ahead log writes through memory-mapped pages,
/// and a write to a page the full file system cannot back is a SIGBUS that kills the process, not an exception. The
/// reserve files are allocated with <c>fallocate</c> (instant, and holding real blocks on ext4, XFS and tmpfs; on a
/// file system without it they hold nothing, and only the stop short of full protects the metadata log).
/// </remarks>
public sealed partial class LogDirectorySpace
{
    /// <summary>The directory, in the data directory, holding the reserve files.</summary>
    public const string ReserveDirectoryName = ".levee-space-reserve";

    private const int ReserveFileCount = 4;
    private const long MinReserveBytes = 1L << 20;
    private const long MaxReserveBytes = 8L << 20;

    /// <summary>A metadata append needs at least a few of the write-ahead log's 4 KiB pages.</summary>
    private const long MinMetadataRoomBytes = 64 * 1024;

    /// <summary>While appending, the free space is read again at least this often...</summary>
    private const long RefreshIntervalMs = 1000;

    /// <summary>...and at every append once the estimate is this close to the reserve.</summary>
    private const long NearReserveBytes = 64L << 20;

    private readonly Lock _lock = new();
    private readonly Func<long> _measureFree;
    private readonly string _reserveDirectory;
    private readonly ILogger _logger;
    private long _freeEstimate;
    private long _checkedAtMs;
    private bool _released;

    /// <summary>
    /// Measures the file system of <paramref name="directory"/> (created if missing) and holds the reserve files if
    /// there is room, or releases one if the disk is already full: call it before the metadata log opens.
    /// </summary>
    /// <param name="directory">The data directory.</param>
    /// <param name="logger">Where the reserve's changes are logged.</param>
    /// <param name="reserveBytes">The reserve; default 1/1024 of the file system, at least 1 MiB and at most 8 MiB.</param>
    public LogDirectorySpace(string directory, ILogger logger, long? reserveBytes = null)
        : this(directory, logger, reserveBytes, measureFree: null)
    {
    }

    /// <summary>For tests: the free space is what <paramref name="measureFree"/> says.</summary>
    internal LogDirectorySpace(string directory, ILogger logger, long? reserveBytes, Func<long>? measureFree)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(logger);
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
        var drive = new DriveInfo(OperatingSystem.IsWindows() ? Path.GetPathRoot(Directory)! : Directory);
        _measureFree = measureFree ?? (() => drive.AvailableFreeSpace);
        ReserveBytes = reserveBytes ?? Math.Clamp(drive.TotalSize / 1024, MinReserveBytes, MaxReserveBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ReserveBytes, nameof(reserveBytes));
        _reserveDirectory = Path.Combine(Directory, ReserveDirectoryName);
        _logger = logger;
        Maintain();
    }

    /// <summary>The data directory.</summary>
    public string Directory { get; }

    /// <summary>Free bytes partition data never takes; as many again are held in reserve files.</summary>
    public long ReserveBytes { get; }

    /// <summary>Bytes held in reserve files now.</summary>
    public long HeldBytes
    {
        get
        {
            lock (_lock)
            {
                return HeldFiles().Count * StepBytes;
            }
        }
    }

    /// <summary>What one reserve file holds: a quarter of the reserve.</summary>
    private long StepBytes => ReserveBytes / ReserveFileCount;

    /// <summary>Under this much free space the disk counts as full and a reserve file is released: half of one.</summary>
    private long LowBytes => StepBytes / 2;

    /// <summary>
    /// Before <paramref name="bytes"/> of partition data are written: refuses them (an <see cref="IOException"/> with
    /// ENOSPC's code, so that they are handled as a full disk is) when the free space would fall under the reserve.
    /// Reads the free space at most once a second while it is far above the reserve, at every call near it.
    /// </summary>
    /// <exception cref="IOException">The free space would fall under the reserve.</exception>
    public void CheckDataAppend(int bytes)
    {
        var estimate = Interlocked.Add(ref _freeEstimate, -bytes);
        if (estimate > ReserveBytes + NearReserveBytes && Environment.TickCount64 - Volatile.Read(ref _checkedAtMs) < RefreshIntervalMs)
        {
            return;
        }

        var free = Refresh();
        if (free - bytes < ReserveBytes)
        {
            throw new IOException(
                string.Create(CultureInfo.InvariantCulture, $"The file system of {Directory} has {free} bytes free; partition data stops {ReserveBytes} bytes short of full"),
                DiskSpace.NoSpaceLeftCode);
        }

        Interlocked.Add(ref _freeEstimate, -bytes);
    }

    /// <summary>
    /// Before an append to the metadata log: when the disk is full (something else filled it), releases a quarter of
    /// the reserve to make room.
    /// </summary>
    /// <exception cref="IOException">There is no room, and no reserve left to release: the append must be refused, not tried.</exception>
    public void EnsureMetadataRoom()
    {
        var free = Refresh();
        if (free >= LowBytes)
        {
            return;
        }

        Maintain();
        free = Refresh();
        if (free < MinMetadataRoomBytes)
        {
            throw new IOException(
                string.Create(CultureInfo.InvariantCulture, $"The file system of {Directory} has {free} bytes free and no reserve left: the metadata log cannot be written until space is freed."),
                DiskSpace.NoSpaceLeftCode);
        }
    }

    /// <summary>
    /// Releases a quarter of the reserve when the disk is full, and holds the whole reserve again once space is freed.
    /// The log manager's background loop calls it every second; a write that failed for want of space, at once.
    /// </summary>
    public void Maintain()
    {
        lock (_lock)
        {
            var free = Refresh();
            var held = HeldFiles();
            if (free < LowBytes && held.Count > 0)
            {
                TryDelete(held[^1]);
                _released = true;
                LogReserveReleased(_logger, Directory, free, StepBytes, (held.Count - 1) * StepBytes);
                Refresh();
                return;
            }

            var missing = ReserveFileCount - held.Count;
            if (missing == 0 || free < ReserveBytes + ((missing + 1) * StepBytes))
            {
                return;
            }

            System.IO.Directory.CreateDirectory(_reserveDirectory);
            for (var i = 0; i < ReserveFileCount; i++)
            {
                var path = Path.Combine(_reserveDirectory, i.ToString(CultureInfo.InvariantCulture));
                if (!File.Exists(path) && !TryHold(path))
                {
                    return;
                }
            }

            LogReserveHeld(_logger, Directory, ReserveBytes, _reserveDirectory, _released ? " again: space was freed" : "");
            _released = false;
            Refresh();
        }
    }

    private bool TryHold(string path)
    {
        try
        {
            // fallocate: the blocks are the file's at once, without writing them (the file's length stays 0).
            using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, StepBytes);
            return true;
        }
        catch (IOException)
        {
            // No room after all (something else took it meanwhile): the next pass tries again.
            TryDelete(path);
            return false;
        }
    }

    private List<string> HeldFiles()
    {
        if (!System.IO.Directory.Exists(_reserveDirectory))
        {
            return [];
        }

        return [.. Enumerable.Range(0, ReserveFileCount)
            .Select(i => Path.Combine(_reserveDirectory, i.ToString(CultureInfo.InvariantCulture)))
            .Where(File.Exists)];
    }

    private long Refresh()
    {
        long free;
        try
        {
            free = _measureFree();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not measurable: never refuse a write for it.
            free = long.MaxValue / 2;
        }

        Volatile.Write(ref _freeEstimate, free);
        Volatile.Write(ref _checkedAtMs, Environment.TickCount64);
        return free;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next pass finds it and keeps it.
        }
    }

    [LoggerMessage(EventName = "ReserveHeld", Level = LogLevel.Information, Message = "Holding {Bytes} bytes of the file system of {Directory} in reserve for the metadata log ({ReserveDirectory}){Again}; partition data stops as many bytes short of full")]
    private static partial void LogReserveHeld(ILogger logger, string directory, long bytes, string reserveDirectory, string again);

    [LoggerMessage(EventName = "ReserveReleased", Level = LogLevel.Warning, Message = "The file system of {Directory} is full ({Free} bytes free): released {Bytes} bytes of its reserve for the metadata log, {Left} bytes left in reserve")]
    private static partial void LogReserveReleased(ILogger logger, string directory, long free, long bytes, long left);
}
