using System.Diagnostics;
using System.Globalization;

namespace Levee.Faults.Infrastructure;

/// <summary>
/// A small file system of its own (a tmpfs mounted in a fresh temporary directory) that a test can fill to the last
/// byte with filler files beside a broker's data directory, and free again by deleting them. Mounting needs root (the
/// CI machine runs as root; elsewhere <c>sudo -n</c> is tried): when it is impossible the test fails saying so,
/// never skips.
/// </summary>
public sealed class SmallFileSystem : IAsyncDisposable
{
    private const int FillChunkBytes = 64 * 1024;
    private readonly List<string> _fillers = [];

    private SmallFileSystem(string path, long sizeBytes)
    {
        Path = path;
        SizeBytes = sizeBytes;
    }

    /// <summary>The mount point.</summary>
    public string Path { get; }

    /// <summary>The file system's size.</summary>
    public long SizeBytes { get; }

    /// <summary>Bytes still free (statvfs).</summary>
    public long AvailableBytes => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Mounts a tmpfs of <paramref name="megabytes"/> MiB.</summary>
    /// <exception cref="InvalidOperationException">The mount failed (not root and no password-less sudo, or no tmpfs).</exception>
    public static async Task<SmallFileSystem> MountAsync(int megabytes)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "levee-smallfs-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        var (code, output) = await RunAsync("mount", "-t", "tmpfs", "-o", string.Create(CultureInfo.InvariantCulture, $"size={megabytes}m"), "tmpfs", path);
        if (code != 0)
        {
            Directory.Delete(path);
            throw new InvalidOperationException(
                $"This test needs a small file system of its own and could not mount one: `mount -t tmpfs -o size={megabytes}m tmpfs {path}` "
                + $"exited with {code} ({output.Trim()}). Run the tests as root (as CI does) or with password-less sudo.");
        }

        return new SmallFileSystem(path, (long)megabytes * 1024 * 1024);
    }

    /// <summary>
    /// Writes a new filler file until the file system refuses a byte more (ENOSPC); returns the bytes it took. What is
    /// already full stays full: a filler of 0 bytes is a valid answer.
    /// </summary>
    public long FillUp()
    {
        var path = System.IO.Path.Combine(Path, string.Create(CultureInfo.InvariantCulture, $"filler-{_fillers.Count}"));
        _fillers.Add(path);
        var written = 0L;
        var chunk = new byte[FillChunkBytes];
        Random.Shared.NextBytes(chunk);
        using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);

        // Big chunks first, then single pages, so that no page is left free at the end.
        foreach (var size in (ReadOnlySpan<int>)[FillChunkBytes, 4096, 512, 1])
        {
            while (true)
            {
                try
                {
                    RandomAccess.Write(file, chunk.AsSpan(0, size), written);
                    written += size;
                }
                catch (IOException)
                {
                    // ENOSPC, possibly after part of the chunk: continue after what the file really holds.
                    written = RandomAccess.GetLength(file);
                    break;
                }
            }
        }

        return written;
    }

    /// <summary>Fills the file system up to <paramref name="leaveFreeBytes"/> free (one filler file); returns the bytes it took.</summary>
    public long FillLeaving(long leaveFreeBytes)
    {
        var path = System.IO.Path.Combine(Path, string.Create(CultureInfo.InvariantCulture, $"filler-{_fillers.Count}"));
        _fillers.Add(path);
        var size = Math.Max(0, AvailableBytes - leaveFreeBytes);
        using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write);
        var chunk = new byte[FillChunkBytes];
        for (var written = 0L; written < size; written += FillChunkBytes)
        {
            RandomAccess.Write(file, chunk.AsSpan(0, (int)Math.Min(FillChunkBytes, size - written)), written);
        }

        return size;
    }

    /// <summary>Deletes every filler file; returns the bytes freed.</summary>
    public long FreeFillers()
    {
        var freed = 0L;
        foreach (var path in _fillers.Where(File.Exists))
        {
            freed += new FileInfo(path).Length;
            File.Delete(path);
        }

        _fillers.Clear();
        return freed;
    }

    /// <summary>Unmounts (lazily when something still holds a file open) and removes the mount point.</summary>
    public async ValueTask DisposeAsync()
    {
        var (code, _) = await RunAsync("umount", Path);
        if (code != 0)
        {
            await RunAsync("umount", "-l", Path);
        }

        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a lazily unmounted directory goes once it is free.
        }
    }

    /// <summary>Runs a mount command as root, through password-less sudo when this process is not root.</summary>
    private static async Task<(int Code, string Output)> RunAsync(string command, params string[] args)
    {
        var asRoot = Environment.UserName == "root";
        var info = new ProcessStartInfo(asRoot ? command : "sudo")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (!asRoot)
        {
            info.ArgumentList.Add("-n");
            info.ArgumentList.Add(command);
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, await stdout + await stderr);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
