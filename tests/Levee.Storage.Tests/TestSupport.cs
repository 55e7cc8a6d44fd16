using System.Buffers.Binary;
using Levee.Protocol.Records;
using Microsoft.Extensions.Logging.Abstractions;

namespace Levee.Storage.Tests;

/// <summary>Builds uncompressed RecordBatch v2 bytes for tests, independent of the protocol's builder.</summary>
internal static class TestBatches
{
    /// <summary>A batch of <paramref name="timestamps"/>.Length records, each with a value of <paramref name="valueSize"/> bytes.</summary>
    public static byte[] Build(long[] timestamps, int valueSize = 10, long baseOffset = 0, int leaderEpoch = 0, short attributes = 0)
    {
        var records = new List<byte>();
        var baseTimestamp = timestamps[0];
        for (var i = 0; i < timestamps.Length; i++)
        {
            var body = new List<byte> { 0 }; // attributes
            WriteVarLong(body, timestamps[i] - baseTimestamp);
            WriteVarLong(body, i);
            WriteVarLong(body, -1); // null key
            WriteVarLong(body, valueSize);
            for (var v = 0; v < valueSize; v++)
            {
                body.Add((byte)(i + v));
            }

            WriteVarLong(body, 0); // no headers
            WriteVarLong(records, body.Count);
            records.AddRange(body);
        }

        var batch = new byte[RecordBatchHeader.Size + records.Count];
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatchHeader.BaseOffsetPosition), baseOffset);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.BatchLengthPosition), batch.Length - RecordBatchHeader.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.PartitionLeaderEpochPosition), leaderEpoch);
        batch[RecordBatchHeader.MagicPosition] = 2;
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatchHeader.AttributesPosition), attributes);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.LastOffsetDeltaPosition), timestamps.Length - 1);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatchHeader.BaseTimestampPosition), baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatchHeader.MaxTimestampPosition), timestamps.Max());
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatchHeader.ProducerIdPosition), -1);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatchHeader.ProducerEpochPosition), -1);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.BaseSequencePosition), -1);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchHeader.RecordCountPosition), timestamps.Length);
        records.CopyTo(batch, RecordBatchHeader.Size);
        BinaryPrimitives.WriteUInt32BigEndian(batch.AsSpan(RecordBatchHeader.CrcPosition), Crc32C.Compute(batch.AsSpan(RecordBatchHeader.CrcCoveredStart)));
        return batch;
    }

    /// <summary>A batch of <paramref name="count"/> records all stamped <paramref name="timestamp"/>.</summary>
    public static byte[] Build(int count, long timestamp = 1_000, int valueSize = 10) =>
        Build(Enumerable.Repeat(timestamp, count).ToArray(), valueSize);

    public static byte[] Concat(params byte[][] batches) => [.. batches.SelectMany(b => b)];

    public static bool CrcIsValid(ReadOnlySpan<byte> batch) =>
        new RecordBatchHeader(batch).Crc == Crc32C.Compute(batch[RecordBatchHeader.CrcCoveredStart..new RecordBatchHeader(batch).TotalSize]);

    /// <summary>Splits stored bytes into (baseOffset, lastOffset) per batch.</summary>
    public static List<(long Base, long Last)> Offsets(ReadOnlySpan<byte> bytes)
    {
        var result = new List<(long, long)>();
        while (bytes.Length >= RecordBatchHeader.Size)
        {
            var h = new RecordBatchHeader(bytes);
            result.Add((h.BaseOffset, h.LastOffset));
            bytes = bytes[h.TotalSize..];
        }

        return result;
    }

    private static void WriteVarLong(List<byte> output, long value)
    {
        var v = (ulong)((value << 1) ^ (value >> 63));
        while (v >= 0x80)
        {
            output.Add((byte)(v | 0x80));
            v >>= 7;
        }

        output.Add((byte)v);
    }
}

/// <summary>A clock the test moves by hand. Timers still run on real time (nothing here relies on them).</summary>
internal sealed class ManualTimeProvider(long startMs = 1_700_000_000_000) : TimeProvider
{
    private long _nowMs = startMs;

    public long NowMs => Interlocked.Read(ref _nowMs);

    public void Advance(long ms) => Interlocked.Add(ref _nowMs, ms);

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(NowMs);
}

/// <summary>A fresh directory deleted after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => System.IO.Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "levee-storage-" + Guid.NewGuid().ToString("N"));

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class LogExtensions
{
    public static readonly TopicPartition Tp = new("orders", 0);

    public static PartitionLog OpenLog(string dir, LogConfig? config = null, TimeProvider? time = null, long recoveryPoint = 0, bool clean = true, long logStartOffset = 0) =>
        PartitionLog.Open(dir, Tp, config ?? LogConfig.Default with { FileDeleteDelayMs = 0 }, recoveryPoint, clean, NullLogger.Instance, time ?? new ManualTimeProvider(), logStartOffset);

    public static byte[] ReadBytes(this LogReadResult result)
    {
        var bytes = new byte[result.Length];
        result.CopyTo(bytes);
        return bytes;
    }

    /// <summary>Appends as leader and advances the high watermark, as the single-node broker does.</summary>
    public static LogAppendInfo Append(this PartitionLog log, byte[] batches, int epoch = 0)
    {
        var info = log.AppendAsLeader(batches, epoch);
        log.HighWatermark = log.LogEndOffset;
        return info;
    }

    /// <summary>Reads everything from <paramref name="offset"/>, following segments, and returns (base, last) per batch.</summary>
    public static List<(long Base, long Last)> ReadAllOffsets(this PartitionLog log, long offset)
    {
        var result = new List<(long, long)>();
        while (offset < log.HighWatermark)
        {
            var read = log.Read(offset, int.MaxValue, log.HighWatermark, minOneBatch: true);
            if (read.Length == 0)
            {
                break;
            }

            var batches = TestBatches.Offsets(read.ReadBytes());
            result.AddRange(batches);
            offset = batches[^1].Last + 1;
        }

        return result;
    }
}

/// <summary>What kill -9 leaves on disk: the files as they are now, copied while the log is still open.</summary>
internal static class CrashCopy
{
    public static void Directory(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.GetFiles(from))
        {
            // A checkpoint's temporary file belongs to a write in progress (the background flush after a roll);
            // opening the log deletes any it finds, so the copy leaves it out rather than race its rename.
            if (file.EndsWith(".tmp", StringComparison.Ordinal))
            {
                continue;
            }

            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var sub in System.IO.Directory.GetDirectories(from))
        {
            Directory(sub, Path.Combine(to, Path.GetFileName(sub)));
        }
    }
}
