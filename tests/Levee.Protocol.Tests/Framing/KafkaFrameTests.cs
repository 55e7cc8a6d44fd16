using System.Buffers;
using System.Buffers.Binary;
using CsCheck;
using Levee.Protocol.Framing;

namespace Levee.Protocol.Tests.Framing;

public sealed class KafkaFrameTests
{
    private const int Max = 1 << 20;

    [Fact]
    public void TryRead_LengthAboveMaximum_IsInvalidBeforeTheBodyArrives()
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, Max + 1);
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(FrameStatus.Invalid, KafkaFrame.TryRead(ref buffer, Max, out _, out var declared));
        Assert.Equal(Max + 1, declared);
    }

    [Fact]
    public void TryRead_NegativeLength_IsInvalid()
    {
        var buffer = new ReadOnlySequence<byte>([0x80, 0, 0, 0]);
        Assert.Equal(FrameStatus.Invalid, KafkaFrame.TryRead(ref buffer, Max, out _, out _));
    }

    [Fact]
    public void TryRead_FramesSplitAcrossSegments_AreReassembledInOrder()
    {
        Gen.Byte.Array[0, 300].Array[1, 10].Sample(frames =>
        {
            var wire = frames.SelectMany(f => Prefix(f.Length).Concat(f)).ToArray();
            foreach (var split in new[] { 1, 3, 7, 64 })
            {
                var buffer = Segmented(wire, split);
                foreach (var expected in frames)
                {
                    Assert.Equal(FrameStatus.Complete, KafkaFrame.TryRead(ref buffer, Max, out var payload, out _));
                    Assert.Equal(expected, payload.ToArray());
                }

                Assert.Equal(FrameStatus.Incomplete, KafkaFrame.TryRead(ref buffer, Max, out _, out _));
                Assert.Equal(0, buffer.Length);
            }
        });
    }

    [Fact]
    public void TryRead_AnyBytes_NeverThrowsAndNeverReadsPastTheBuffer()
    {
        Gen.Byte.Array[0, 64].Sample(bytes =>
        {
            var buffer = new ReadOnlySequence<byte>(bytes);
            var status = KafkaFrame.TryRead(ref buffer, 32, out var payload, out var declared);
            if (status == FrameStatus.Complete)
            {
                Assert.Equal(declared, payload.Length);
                Assert.Equal(bytes.Length - 4 - declared, buffer.Length);
            }
            else
            {
                Assert.Equal(bytes.Length, buffer.Length);
            }
        });
    }

    private static byte[] Prefix(int length)
    {
        var prefix = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(prefix, length);
        return prefix;
    }

    private static ReadOnlySequence<byte> Segmented(byte[] bytes, int size)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(bytes.AsMemory(0, Math.Min(size, bytes.Length)), 0);
        var last = first;
        for (var i = size; i < bytes.Length; i += size)
        {
            last = last.Append(bytes.AsMemory(i, Math.Min(size, bytes.Length - i)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
