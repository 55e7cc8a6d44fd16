using System.Buffers;
using System.IO.Pipelines;
using Levee.Protocol;
using Levee.Protocol.Framing;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Levee.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Levee.Benchmarks;

/// <summary>
/// The broker's hot-path operations on fixed inputs, shared by the BenchmarkDotNet benchmarks (time and
/// allocation per operation) and the allocation budget test (which runs them many times and divides
/// GC.GetAllocatedBytesForCurrentThread by the count). One instance per batch shape: building two with
/// different <c>recordsPerBatch</c> separates what an operation allocates per request from what it allocates
/// per record.
/// </summary>
public sealed class HotPathFixture : IDisposable
{
    /// <summary>The log of appends is truncated back to empty after this many bytes, so disk use stays bounded.</summary>
    private const long AppendLogLimitBytes = 256L * 1024 * 1024;

    private const int ReadLogBatches = 2000;

    private readonly byte[] _produceRequestBody;
    private readonly byte[] _fetchRequestBody;
    private readonly byte[] _batch;
    private readonly byte[] _appendScratch;
    private readonly FetchResponse _fetchResponse;
    private readonly ProduceResponse _produceResponse;
    private readonly ProduceRequest _produceRequest;
    private readonly FetchRequest _fetchRequest;
    private readonly ArrayBufferWriter<byte> _output = new(4 * 1024 * 1024);
    private readonly string _directory;
    private readonly PartitionLog _appendLog;
    private readonly PartitionLog _readLog;
    private readonly byte[] _readBuffer;
    private readonly FetchResponse _fetchToPipeResponse;
    private readonly FetchResponse.PartitionData _fetchToPipePartition;
    private readonly FrameBuffer _frame = new();
    private readonly PooledBufferWriter _recompressed = new();
    private readonly BlockMemoryPool _pipePool = new();
    private readonly Pipe _pipe;
    private readonly ValidationOptions _validation;
    private readonly WriteMessage _writeProduceRequest;
    private readonly WriteMessage _writeProduceResponse;
    private readonly WriteMessage _writeFetchRequest;
    private readonly WriteMessage _writeFetchResponse;
    private long _lookup;

    /// <summary>Builds the inputs: one produce batch of <paramref name="recordsPerBatch"/> records of <paramref name="recordSize"/> bytes.</summary>
    public HotPathFixture(int recordsPerBatch, int recordSize)
    {
        RecordsPerBatch = recordsPerBatch;
        var value = new byte[recordSize];
        value.AsSpan().Fill((byte)'v');
        var records = new RecordData[recordsPerBatch];
        for (var i = 0; i < records.Length; i++)
        {
            records[i] = new RecordData(null, value, 1_700_000_000_000 + i);
        }

        _batch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions(), records);
        _appendScratch = new byte[_batch.Length];
        _validation = new ValidationOptions { NowMs = 1_700_000_000_000 };

        _produceRequest = new ProduceRequest { Acks = 1, TimeoutMs = 30_000 };
        var topicData = new ProduceRequest.TopicProduceData { Name = "bench" };
        topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = 0, Records = _batch });
        _produceRequest.TopicData.Add(topicData);
        _produceRequestBody = Encode(_produceRequest.Write, ProduceVersion);

        _fetchRequest = new FetchRequest { MaxWaitMs = 500, MinBytes = 1, MaxBytes = 50 * 1024 * 1024, SessionEpoch = -1 };
        var fetchTopic = new FetchRequest.FetchTopic { Topic = "bench", TopicId = Guid.NewGuid() };
        fetchTopic.Partitions.Add(new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1024 * 1024 });
        _fetchRequest.Topics.Add(fetchTopic);
        _fetchRequestBody = Encode(_fetchRequest.Write, FetchVersion);

        _produceResponse = new ProduceResponse();
        var produced = new ProduceResponse.TopicProduceResponse { Name = "bench" };
        produced.PartitionResponses.Add(new ProduceResponse.PartitionProduceResponse { Index = 0, BaseOffset = 42, LogStartOffset = 0 });
        _produceResponse.Responses.Add(produced);

        _fetchResponse = new FetchResponse();
        var fetched = new FetchResponse.FetchableTopicResponse { Topic = "bench", TopicId = fetchTopic.TopicId };
        fetched.Partitions.Add(new FetchResponse.PartitionData { PartitionIndex = 0, HighWatermark = 1000, LastStableOffset = 1000, LogStartOffset = 0, Records = _batch });
        _fetchResponse.Responses.Add(fetched);

        // Delegates made once: a method group converted per call would allocate and be counted.
        _writeProduceRequest = _produceRequest.Write;
        _writeProduceResponse = _produceResponse.Write;
        _writeFetchRequest = _fetchRequest.Write;
        _writeFetchResponse = _fetchResponse.Write;

        _directory = Path.Combine(Path.GetTempPath(), "levee-bench-" + Guid.NewGuid().ToString("N"));
        var config = LogConfig.Default with { SegmentBytes = 512 * 1024 * 1024 };
        _appendLog = PartitionLog.Open(Path.Combine(_directory, "append-0"), new TopicPartition("append", 0), config, 0, false, NullLogger.Instance, TimeProvider.System);
        _readLog = PartitionLog.Open(Path.Combine(_directory, "read-0"), new TopicPartition("read", 0), config, 0, false, NullLogger.Instance, TimeProvider.System);
        for (var i = 0; i < ReadLogBatches; i++)
        {
            _batch.CopyTo(_appendScratch, 0);
            _readLog.AppendAsLeader(_appendScratch, leaderEpoch: 0);
        }

        _readLog.HighWatermark = _readLog.LogEndOffset;
        _readBuffer = new byte[2 * 1024 * 1024];

        _pipe = new Pipe(new PipeOptions(_pipePool, pauseWriterThreshold: 0, useSynchronizationContext: false));
        _fetchToPipeResponse = new FetchResponse();
        var toPipe = new FetchResponse.FetchableTopicResponse { Topic = "read", TopicId = fetchTopic.TopicId };
        _fetchToPipePartition = new FetchResponse.PartitionData { PartitionIndex = 0, LogStartOffset = 0 };
        toPipe.Partitions.Add(_fetchToPipePartition);
        _fetchToPipeResponse.Responses.Add(toPipe);
    }

    /// <summary>Produce and Fetch versions librdkafka 2.x uses against Levee.</summary>
    public const short ProduceVersion = 9;

    /// <inheritdoc cref="ProduceVersion"/>
    public const short FetchVersion = 12;

    /// <summary>Records in each batch of this fixture.</summary>
    public int RecordsPerBatch { get; }

    /// <summary>Bytes of the produce batch.</summary>
    public int BatchBytes => _batch.Length;

    /// <summary>Decodes a Produce request body holding one partition's batch (the records stay a slice).</summary>
    public int DecodeProduceRequest()
    {
        var reader = new KafkaReader(_produceRequestBody);
        var request = ProduceRequest.Read(ref reader, ProduceVersion);
        return request.TopicData.Count;
    }

    /// <summary>Encodes the same Produce request (the client side, and a check on the writer).</summary>
    public int EncodeProduceRequest() => EncodeToOutput(_writeProduceRequest, ProduceVersion);

    /// <summary>Encodes a Produce response for one partition.</summary>
    public int EncodeProduceResponse() => EncodeToOutput(_writeProduceResponse, ProduceVersion);

    /// <summary>Decodes a Fetch request body for one partition.</summary>
    public int DecodeFetchRequest()
    {
        var reader = new KafkaReader(_fetchRequestBody);
        var request = FetchRequest.Read(ref reader, FetchVersion);
        return request.Topics.Count;
    }

    /// <summary>Encodes the same Fetch request.</summary>
    public int EncodeFetchRequest() => EncodeToOutput(_writeFetchRequest, FetchVersion);

    /// <summary>Encodes a Fetch response carrying one stored batch.</summary>
    public int EncodeFetchResponse() => EncodeToOutput(_writeFetchResponse, FetchVersion);

    /// <summary>Validates the produce batch as ProduceHandler does (sizes, CRC-32C, counts, timestamps).</summary>
    public long ValidateBatch() => RecordBatchValidator.Validate(_batch, _validation).RecordCount;

    /// <summary>CRC-32C of the batch's covered bytes, alone.</summary>
    public uint Crc32CBatch() => Crc32C.Compute(_batch.AsSpan(RecordBatchHeader.CrcCoveredStart));

    /// <summary>
    /// What ProduceHandler adds for a topic whose compression.type is not the batch's codec: the (uncompressed) batch
    /// rewritten with zstd at Kafka's default level. Not a hot path: the producer's own codec costs nothing of it.
    /// </summary>
    public int RecompressBatch()
    {
        _recompressed.Clear();
        return RecordBatchRewriter.Recompress(_batch, CompressionType.Zstd, 3, _recompressed);
    }

    /// <summary>Appends the batch as leader (offsets stamped in place, then written to the segment).</summary>
    public long AppendBatch()
    {
        if (_appendLog.Size > AppendLogLimitBytes)
        {
            _appendLog.TruncateTo(0);
        }

        _batch.CopyTo(_appendScratch, 0);
        return _appendLog.AppendAsLeader(_appendScratch, leaderEpoch: 0).LastOffset;
    }

    /// <summary>Finds the batch holding an offset spread over the log (offset index floor, then a short scan).</summary>
    public int IndexLookup()
    {
        var offset = (_lookup++ * 7919) % _readLog.LogEndOffset;
        return _readLog.Read(offset, maxBytes: 1, minOneBatch: true).Length;
    }

    /// <summary>What Fetch does per partition: read up to 1 MiB of whole batches and copy them into a (pooled) buffer.</summary>
    public int ReadForFetch()
    {
        var offset = (_lookup++ * 7919) % (_readLog.LogEndOffset - (1024 * 1024 / _batch.Length * RecordsPerBatch));
        var read = _readLog.Read(Math.Max(0, offset), maxBytes: 1024 * 1024, minOneBatch: true);
        read.CopyTo(_readBuffer);
        return read.Length;
    }

    /// <summary>
    /// What Fetch does per partition, end to end: read up to 1 MiB of whole batches, encode the response with the
    /// records by reference, and write the frame into a pipe (the records read from the file straight into the pipe's
    /// memory), then drain the pipe as the socket would.
    /// </summary>
    public int FetchToPipe()
    {
        var records = _readLog.ReadRecords(NextFetchOffset(), maxBytes: 1024 * 1024, _readLog.HighWatermark, minOneBatch: true)!;
        try
        {
            _fetchToPipePartition.Records = records.Memory;
            _fetchToPipePartition.HighWatermark = _readLog.HighWatermark;
            EncodeFrame();
        }
        finally
        {
            ((IDisposable)records).Dispose();
        }

        return DrainPipe();
    }

    /// <summary>
    /// <see cref="FetchToPipe"/> as it was before the records went by reference (for comparison, not budgeted): the
    /// records copied into a pooled array, then into the response buffer by the encoder, then into the pipe.
    /// </summary>
    public int FetchToPipeCopied()
    {
        var read = _readLog.Read(NextFetchOffset(), maxBytes: 1024 * 1024, _readLog.HighWatermark, minOneBatch: true);
        var buffer = ArrayPool<byte>.Shared.Rent(read.Length);
        try
        {
            read.CopyTo(buffer);
            _fetchToPipePartition.Records = new ReadOnlyMemory<byte>(buffer, 0, read.Length);
            _fetchToPipePartition.HighWatermark = _readLog.HighWatermark;
            EncodeFrame();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return DrainPipe();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _frame.Dispose();
        _recompressed.Dispose();
        _pipePool.Dispose();
        _appendLog.Dispose();
        _readLog.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: it is a temporary directory.
        }
    }

    private long NextFetchOffset()
    {
        var offset = (_lookup++ * 7919) % (_readLog.LogEndOffset - (1024 * 1024 / _batch.Length * RecordsPerBatch));
        return Math.Max(0, offset);
    }

    private void EncodeFrame()
    {
        _frame.Reset();
        var writer = new KafkaWriter(_frame);
        writer.WriteInt32(42); // the response header: a correlation id
        _fetchToPipeResponse.Write(ref writer, FetchVersion);
        _fetchToPipePartition.Records = null;
        _frame.WriteFrameTo(_pipe.Writer);
    }

    private int DrainPipe()
    {
        // Nothing waits here: the pipe never pauses the writer and the reader has the bytes once they are flushed.
        var flush = _pipe.Writer.FlushAsync();
        if (!flush.IsCompleted)
        {
            throw new InvalidOperationException("The pipe paused its writer.");
        }

        _ = flush.GetAwaiter().GetResult();
        if (!_pipe.Reader.TryRead(out var result))
        {
            throw new InvalidOperationException("The pipe holds no frame.");
        }

        var length = (int)result.Buffer.Length;
        _pipe.Reader.AdvanceTo(result.Buffer.End);
        return length;
    }

    private delegate void WriteMessage(ref KafkaWriter writer, short version);

    private static byte[] Encode(WriteMessage write, short version)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(output);
        write(ref writer, version);
        return output.WrittenSpan.ToArray();
    }

    private int EncodeToOutput(WriteMessage write, short version)
    {
        _output.ResetWrittenCount();
        var writer = new KafkaWriter(_output);
        write(ref writer, version);
        return _output.WrittenCount;
    }
}
