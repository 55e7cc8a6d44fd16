using System.Globalization;

namespace Levee.Broker;

/// <summary>What this machine can carry, for the <c>broker.capacity.*</c> limits an operator leaves unset.</summary>
internal static class MachineCapacity
{
    private const long GigabitBytesPerSec = 125_000_000;

    /// <summary>The size of the file system that holds <paramref name="dataDir"/> (1 TiB when it cannot be read).</summary>
    public static long DiskBytes(string dataDir)
    {
        try
        {
            var full = Path.GetFullPath(dataDir);
            var drive = DriveInfo.GetDrives()
                .Where(d => d.IsReady && full.StartsWith(d.RootDirectory.FullName, StringComparison.Ordinal))
                .MaxBy(d => d.RootDirectory.FullName.Length);
            return drive?.TotalSize > 0 ? drive.TotalSize : 1L << 40;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 1L << 40;
        }
    }

    /// <summary>The fastest network interface's speed in bytes per second (Linux sysfs), else 1 Gbit/s.</summary>
    public static long NetworkBytesPerSec()
    {
        long best = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/sys/class/net"))
            {
                if (Path.GetFileName(dir) == "lo" || !File.Exists(Path.Combine(dir, "speed")))
                {
                    continue;
                }

                try
                {
                    if (long.TryParse(File.ReadAllText(Path.Combine(dir, "speed")).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var mbits))
                    {
                        best = Math.Max(best, mbits * 125_000);
                    }
                }
                catch (IOException)
                {
                    // An interface that is down has no speed to read.
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return GigabitBytesPerSec;
        }

        return best > 0 ? best : GigabitBytesPerSec;
    }

    /// <summary>Half the process's open-file limit (Linux /proc/self/limits), else 10,000.</summary>
    public static long Connections()
    {
        try
        {
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var soft = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(3);
            return long.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var files) && files > 1 ? files / 2 : 10_000;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 10_000;
        }
    }
}
