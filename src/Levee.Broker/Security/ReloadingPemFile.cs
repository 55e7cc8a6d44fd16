namespace Levee.Broker.Security;

/// <summary>
/// What a PEM file holds, read again when the file changes, so a rotated certificate is served without a restart
/// (hosted services replace them on disk). Each use costs one stat of the file (its size and last write time); the file
/// is parsed again only when those change. A file that cannot be read or parsed (caught half rewritten, or removed)
/// leaves the last good content in use and is reported once per change, through <c>onFailure</c>.
/// </summary>
/// <typeparam name="T">What the file is parsed into.</typeparam>
internal sealed class ReloadingPemFile<T>
    where T : class
{
    private readonly string _path;
    private readonly Func<string, T> _load;
    private readonly Action<string, Exception> _onFailure;
    private readonly Lock _lock = new();
    private (DateTime Written, long Length) _loaded;
    private (DateTime Written, long Length) _failed;
    private T _current;

    /// <summary>Reads <paramref name="path"/> now; a failure here is the caller's (the broker does not start).</summary>
    public ReloadingPemFile(string path, Func<string, T> load, Action<string, Exception> onFailure)
    {
        _path = path;
        _load = load;
        _onFailure = onFailure;
        _loaded = Stamp(path);
        _current = load(path);
    }

    /// <summary>The content of the file as it is now, or as it last was when it could be read.</summary>
    public T Current
    {
        get
        {
            var stamp = Stamp(_path);
            lock (_lock)
            {
                if (stamp == _loaded || stamp == _failed)
                {
                    return _current;
                }

                try
                {
                    _current = _load(_path);
                    _loaded = stamp;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
                {
                    _failed = stamp;
                    _onFailure(_path, ex);
                }

                return _current;
            }
        }
    }

    private static (DateTime, long) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : default;
    }
}
