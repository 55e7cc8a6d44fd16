namespace Levee.Storage;

/// <summary>
/// Tells a full disk from other I/O errors. A full disk is an expected state of a broker, not a fault in it: it is
/// logged as one line without a stack trace, produce is answered with the retriable KAFKA_STORAGE_ERROR, and writes
/// work again by themselves once space is freed.
/// </summary>
public static class DiskSpace
{
    // .NET puts the errno in IOException.HResult on Unix (ENOSPC is 28 everywhere; EDQUOT 122 on Linux, 69 on
    // macOS), and the Win32 error as an HRESULT on Windows (ERROR_HANDLE_DISK_FULL 39, ERROR_DISK_FULL 112).
    private const int Enospc = NoSpaceLeftCode;
    private const int EdquotLinux = 122;
    private const int EdquotMac = 69;
    private const int HandleDiskFull = unchecked((int)0x80070027);
    private const int DiskFull = unchecked((int)0x80070070);

    /// <summary>ENOSPC, the code of an <see cref="IOException"/> for a write refused for want of space.</summary>
    internal const int NoSpaceLeftCode = 28;

    /// <summary>True when <paramref name="exception"/> is a write refused for want of space (or of quota).</summary>
    public static bool IsOutOfSpace(Exception? exception) =>
        exception is IOException { HResult: Enospc or EdquotLinux or EdquotMac or HandleDiskFull or DiskFull };

    /// <summary>What to log of a failed write, in one line: its message, and for anything but a full disk its type.</summary>
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return IsOutOfSpace(exception) ? exception.Message : $"{exception.GetType().Name}: {exception.Message}";
    }

    /// <summary>
    /// The exception to hand a logger with the line: none for a full disk (its stack trace says nothing, and a
    /// producer retrying every 100 ms would print one per attempt), the exception itself for anything unexpected.
    /// </summary>
    public static Exception? StackTraceWorthy(Exception exception) => IsOutOfSpace(exception) ? null : exception;
}
