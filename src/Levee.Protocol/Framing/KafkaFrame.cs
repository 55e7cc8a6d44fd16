using System.Buffers;
using System.Buffers.Binary;

namespace Levee.Protocol.Framing;

/// <summary>Outcome of looking for one size-prefixed Kafka frame in buffered bytes.</summary>
public enum FrameStatus
{
    /// <summary>A whole frame was found.</summary>
    Complete,

    /// <summary>More bytes are needed.</summary>
    Incomplete,

    /// <summary>The length prefix is negative or larger than the configured maximum; the connection must be closed.</summary>
    Invalid,
}

/// <summary>
/// Kafka's framing: a big-endian int32 length followed by that many bytes. Sans-I/O: it only
/// looks at buffered bytes. The length is checked before anything is buffered or allocated for it.
/// </summary>
public static class KafkaFrame
{
    /// <summary>Size of the length prefix.</summary>
    public const int LengthPrefixSize = 4;

    /// <summary>
    /// Looks for one frame at the start of <paramref name="buffer"/>. On <see cref="FrameStatus.Complete"/>,
    /// <paramref name="payload"/> is the frame without its prefix and <paramref name="buffer"/> is advanced past it.
    /// <paramref name="declaredLength"/> is the prefix value once 4 bytes are available, else -1.
    /// </summary>
    public static FrameStatus TryRead(ref ReadOnlySequence<byte> buffer, int maxFrameBytes, out ReadOnlySequence<byte> payload, out int declaredLength)
    {
        payload = default;
        declaredLength = -1;
        if (buffer.Length < LengthPrefixSize)
        {
            return FrameStatus.Incomplete;
        }

        Span<byte> prefix = stackalloc byte[LengthPrefixSize];
        buffer.Slice(0, LengthPrefixSize).CopyTo(prefix);
        declaredLength = BinaryPrimitives.ReadInt32BigEndian(prefix);
        if (declaredLength < 0 || declaredLength > maxFrameBytes)
        {
            return FrameStatus.Invalid;
        }

        if (buffer.Length - LengthPrefixSize < declaredLength)
        {
            return FrameStatus.Incomplete;
        }

        payload = buffer.Slice(LengthPrefixSize, declaredLength);
        buffer = buffer.Slice(payload.End);
        return FrameStatus.Complete;
    }
}
