namespace Levee.Storage;

/// <summary>
/// Small files replaced whole (checkpoints, producer snapshots, <c>partition.metadata</c>, <c>meta.properties</c>):
/// written to <c>&lt;file&gt;.tmp</c>, fsynced, then renamed over the file, so a crash leaves the old content or the
/// new, never a mix.
/// </summary>
internal static class AtomicFile
{
    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="content"/>, fsynced first when <paramref name="durable"/>
    /// (files written once per partition, such as <c>partition.metadata</c>, are not: creating ten thousand partitions
    /// would wait for as many fsyncs).
    /// </summary>
    /// <exception cref="IOException">The write failed (a full disk): the file is as it was and no <c>.tmp</c> is left holding space.</exception>
    public static void Write(string path, ReadOnlySpan<byte> content, bool durable = true)
    {
        var tmp = path + ".tmp";
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: durable);
            }

            File.Move(tmp, path, overwrite: true);
        }
        catch (IOException)
        {
            TryDelete(tmp);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next write of the file replaces it.
        }
    }
}
