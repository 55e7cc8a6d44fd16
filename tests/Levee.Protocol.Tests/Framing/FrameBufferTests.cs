using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using CsCheck;
using Levee.Protocol.Framing;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;

namespace Levee.Protocol.Tests.Framing;

public sealed class FrameBufferTests
{
    [Fact]
    public void FetchResponse_WithDeferredRecords_IsByteIdenticalToTheCopiedEncoding_AtEveryVersion()
    {
        Gen.Select(Gen.Byte.Array[0, 5000].Array[1, 6], Gen.Short[4, 17]).Sample((payloads, version) =>
        {
            var sources = payloads.Select(p => new ArrayRecords(p)).ToArray();
            var deferred = Response(sources.Select(s => (ReadOnlyMemory<byte>?)s.Memory));
            var copied = Response(payloads.Select(p => (ReadOnlyMemory<byte>?)p));

            var expected = new ArrayBufferWriter<byte>();
            expected.Write(new byte[4]);
            var writer = new KafkaWriter(expected);
            copied.Write(ref writer, version);
            var expectedBytes = expected.WrittenSpan.ToArray();
            BinaryPrimitives.WriteInt32BigEndian(expectedBytes, expectedBytes.Length - 4);

            using var frame = new FrameBuffer();
            var deferredWriter = new KafkaWriter(frame);
            deferred.Write(ref deferredWriter, version);
            Assert.Equal(expectedBytes.Length, frame.FrameLength);
            Assert.Equal(payloads.Count(p => p.Length > 0), frame.DeferredCount);

            // A small-chunk output: the records cross its segment boundaries.
            var output = new ChunkedWriter(chunk: 1000);
            frame.WriteFrameTo(output);
            Assert.Equal(expectedBytes, output.ToArray());
            foreach (var source in sources)
            {
                Assert.Equal(0, source.Materialized);
                ((IDisposable)source).Dispose();
                Assert.True(source.Released);
            }
        });
    }

    [Fact]
    public async Task WriteFrameTo_APipe_ReadsEachRecordsSliceOnceIntoThePipeMemory()
    {
        var payload = Enumerable.Range(0, 300_000).Select(i => (byte)i).ToArray();
        using var records = new ArrayRecords(payload);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        using var frame = new FrameBuffer();
        var writer = new KafkaWriter(frame);
        writer.WriteInt32(7);
        writer.WriteRecords(records.Memory, compact: false);
        writer.WriteInt16(9);

        frame.WriteFrameTo(pipe.Writer);
        await pipe.Writer.FlushAsync();
        Assert.Equal(1, records.Reads); // one read straight into the pipe's memory
        var result = await pipe.Reader.ReadAsync();
        var bytes = result.Buffer.ToArray();
        Assert.Equal(4 + 4 + 4 + payload.Length + 2, bytes.Length);
        Assert.Equal(bytes.Length - 4, BinaryPrimitives.ReadInt32BigEndian(bytes));
        Assert.Equal(payload.Length, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8)));
        Assert.Equal(payload, bytes.AsSpan(12, payload.Length).ToArray());
        Assert.Equal(9, BinaryPrimitives.ReadInt16BigEndian(bytes.AsSpan(12 + payload.Length)));
    }

    [Fact]
    public void DeferredRecords_AreHeldUntilWritten_AndLetGoWhenTheFrameIsDropped()
    {
        var records = new ArrayRecords([1, 2, 3]);
        using var frame = new FrameBuffer();
        var writer = new KafkaWriter(frame);
        writer.WriteRecords(records.Memory, compact: true);

        ((IDisposable)records).Dispose();
        ((IDisposable)records).Dispose(); // the creator's reference goes once, however often it is disposed
        Assert.False(records.Released); // the frame still holds it

        frame.Reset();
        Assert.True(records.Released);
        Assert.Equal(0, frame.DeferredCount);
        Assert.Equal(4, frame.FrameLength);
    }

    [Fact]
    public void WriteFrameTo_WhenARecordsReadFails_StillReleasesEveryRecords()
    {
        var good = new ArrayRecords([1, 2, 3]);
        var failing = new ArrayRecords([4, 5, 6]) { Fail = true };
        using var frame = new FrameBuffer();
        var writer = new KafkaWriter(frame);
        writer.WriteRecords(failing.Memory, compact: false);
        writer.WriteRecords(good.Memory, compact: false);
        ((IDisposable)good).Dispose();
        ((IDisposable)failing).Dispose();

        Assert.Throws<IOException>(() => frame.WriteFrameTo(new ArrayBufferWriter<byte>()));
        Assert.True(good.Released);
        Assert.True(failing.Released);
        Assert.Equal(4, frame.FrameLength);
    }

    [Fact]
    public void DeferredRecords_ToAnOrdinaryWriter_AreCopiedOnce()
    {
        using var records = new ArrayRecords([1, 2, 3, 4]);
        var output = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(output);
        writer.WriteRecords(records.Memory[1..], compact: true);
        Assert.Equal(new byte[] { 4, 2, 3, 4 }, output.WrittenSpan.ToArray());
        Assert.Equal(1, records.Materialized);
    }

    private static FetchResponse Response(IEnumerable<ReadOnlyMemory<byte>?> records)
    {
        var response = new FetchResponse { ThrottleTimeMs = 1, SessionId = 0 };
        var topic = new FetchResponse.FetchableTopicResponse { Topic = "t", TopicId = Guid.Parse("0b4d8a41-5c1e-4b7e-9f0e-3a1d2c3b4a59") };
        var index = 0;
        foreach (var r in records)
        {
            topic.Partitions.Add(new FetchResponse.PartitionData
            {
                PartitionIndex = index,
                HighWatermark = 100 + index,
                LastStableOffset = 100 + index,
                LogStartOffset = 0,
                Records = r,
                DivergingEpoch = index == 1 ? new FetchResponse.EpochEndOffset { Epoch = 3, EndOffset = 42 } : new(),
            });
            index++;
        }

        response.Responses.Add(topic);
        return response;
    }

    /// <summary>Deferred records over an array, counting reads and whether they were released.</summary>
    private sealed class ArrayRecords(byte[] bytes) : DeferredRecords(bytes.Length)
    {
        public int Reads { get; private set; }

        public int Materialized { get; private set; }

        public bool Released { get; private set; }

        public bool Fail { get; init; }

        public override Span<byte> GetSpan()
        {
            Materialized++;
            return base.GetSpan();
        }

        protected override void Read(int offset, Span<byte> destination)
        {
            Reads++;
            if (Fail)
            {
                throw new IOException("The segment was truncated.");
            }

            bytes.AsSpan(offset, destination.Length).CopyTo(destination);
        }

        protected override void ReleaseResources() => Released = true;
    }

    /// <summary>An output that hands out memory in chunks of at most <c>chunk</c> bytes, like a pipe's blocks.</summary>
    private sealed class ChunkedWriter(int chunk) : IBufferWriter<byte>
    {
        private readonly List<byte[]> _chunks = [];
        private byte[] _current = [];

        public void Advance(int count)
        {
            _chunks.Add(_current[..count]);
            _current = [];
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => _current = new byte[chunk];

        public Span<byte> GetSpan(int sizeHint = 0) => _current = new byte[chunk];

        public byte[] ToArray() => [.. _chunks.SelectMany(c => c)];
    }
}
