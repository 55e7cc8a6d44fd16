using Levee.Protocol.Records;

namespace Levee.Storage;

/// <summary>
/// One cleaner thread's memory, reused from log to log: the offset map (key digest to latest offset, bounded by its
/// share of <c>log.cleaner.dedupe.buffer.size</c>), the buffers a batch is read, decompressed and rewritten in, and
/// the I/O throttle shared by all threads.
/// </summary>
internal sealed class CleanerResources : IDisposable
{
    /// <summary>Cleaned bytes are written to the <c>.cleaned</c> file in chunks of about this size.</summary>
    public const int WriteChunkBytes = 1024 * 1024;

    /// <summary>
    /// Bytes an offset map entry takes: a 16-byte digest and an 8-byte offset (Kafka's 24), plus the dictionary's hash
    /// code, chain link and bucket, so the maps stay within <c>log.cleaner.dedupe.buffer.size</c>.
    /// </summary>
    public const int BytesPerEntry = 36;

    private readonly CleanerThrottler _throttler;
    private byte[] _batch = new byte[64 * 1024];

    /// <param name="dedupeBufferBytes">This thread's share of <c>log.cleaner.dedupe.buffer.size</c>.</param>
    /// <param name="loadFactor"><c>log.cleaner.io.buffer.load.factor</c>: how full the map may get.</param>
    /// <param name="throttler">The throttle of <c>log.cleaner.io.max.bytes.per.second</c>.</param>
    public CleanerResources(long dedupeBufferBytes, double loadFactor, CleanerThrottler throttler)
    {
        OffsetMapCapacity = (int)Math.Clamp(dedupeBufferBytes / BytesPerEntry * loadFactor, 1, int.MaxValue / 2);
        _throttler = throttler;
    }

    /// <summary>Most keys the map holds.</summary>
    public int OffsetMapCapacity { get; }

    /// <summary>Key digest to the latest offset of that key in the dirty section.</summary>
    public Dictionary<UInt128, long> OffsetMap { get; } = [];

    /// <summary>Decompressed records of the batch being read.</summary>
    public PooledBufferWriter Decompressed { get; } = new();

    /// <summary>Kept records of the batch being rewritten, before compression.</summary>
    public PooledBufferWriter Plain { get; } = new();

    /// <summary>Cleaned batches not yet written to the file.</summary>
    public PooledBufferWriter Output { get; } = new();

    /// <summary>A buffer of <paramref name="size"/> bytes for one batch (valid until the next call).</summary>
    public Memory<byte> Batch(int size)
    {
        if (_batch.Length < size)
        {
            _batch = new byte[Math.Max(size, _batch.Length * 2)];
        }

        return _batch.AsMemory(0, size);
    }

    /// <summary>Waits as long as reading or writing <paramref name="bytes"/> more takes at the configured rate.</summary>
    public void Throttle(long bytes, CancellationToken cancellationToken) => _throttler.Throttle(bytes, cancellationToken);

    /// <inheritdoc />
    public void Dispose()
    {
        Decompressed.Dispose();
        Plain.Dispose();
        Output.Dispose();
        OffsetMap.Clear();
        OffsetMap.TrimExcess();
    }
}

/// <summary>
/// <c>log.cleaner.io.max.bytes.per.second</c>: the cleaner threads together read and write at most this many bytes per
/// second; a thread ahead of the rate sleeps (it is a cleaner thread of its own, never a request's).
/// </summary>
internal sealed class CleanerThrottler(double maxBytesPerSecond, TimeProvider time)
{
    private readonly Lock _lock = new();
    private long _periodStart = time.GetTimestamp();
    private double _bytes;

    /// <summary>Counts <paramref name="bytes"/> and sleeps while the bytes of the current second exceed the rate.</summary>
    public void Throttle(long bytes, CancellationToken cancellationToken)
    {
        if (double.IsPositiveInfinity(maxBytesPerSecond) || maxBytesPerSecond >= double.MaxValue)
        {
            return;
        }

        TimeSpan wait;
        lock (_lock)
        {
            _bytes += bytes;
            var elapsed = time.GetElapsedTime(_periodStart);
            var due = TimeSpan.FromSeconds(_bytes / maxBytesPerSecond);
            wait = due - elapsed;
            if (elapsed > TimeSpan.FromSeconds(1))
            {
                // A new period: what was owed is paid by the wait below.
                _periodStart = time.GetTimestamp();
                _bytes = 0;
            }
        }

        if (wait > TimeSpan.Zero)
        {
            cancellationToken.WaitHandle.WaitOne(wait);
        }
    }
}
