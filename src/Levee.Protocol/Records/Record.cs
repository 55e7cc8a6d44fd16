namespace Levee.Protocol.Records;

/// <summary>
/// One record of a RecordBatch v2, viewed in place (no copies). Layout: length varint, attributes int8,
/// timestampDelta varlong, offsetDelta varint, keyLength varint (-1 = null), key, valueLength varint
/// (-1 = null), value, headerCount varint, then per header keyLength varint (>= 0), key, valueLength varint
/// (-1 = null), value.
/// </summary>
public readonly ref struct Record
{
    private readonly ReadOnlySpan<byte> _headers;

    internal Record(
        long baseOffset,
        long timestamp,
        long timestampDelta,
        int offsetDelta,
        sbyte attributes,
        ReadOnlySpan<byte> key,
        bool keyIsNull,
        ReadOnlySpan<byte> value,
        bool valueIsNull,
        int headerCount,
        ReadOnlySpan<byte> headers)
    {
        Offset = baseOffset + offsetDelta;
        Timestamp = timestamp;
        TimestampDelta = timestampDelta;
        OffsetDelta = offsetDelta;
        Attributes = attributes;
        Key = key;
        KeyIsNull = keyIsNull;
        Value = value;
        ValueIsNull = valueIsNull;
        HeaderCount = headerCount;
        _headers = headers;
    }

    /// <summary>Absolute offset: the batch's base offset plus <see cref="OffsetDelta"/>.</summary>
    public long Offset { get; }

    /// <summary>
    /// Timestamp: base timestamp plus <see cref="TimestampDelta"/>, or the batch's max timestamp when the batch
    /// is LogAppendTime (as Kafka's consumers read it).
    /// </summary>
    public long Timestamp { get; }

    /// <summary>Timestamp relative to the batch's base timestamp.</summary>
    public long TimestampDelta { get; }

    /// <summary>Offset relative to the batch's base offset; equals the record's index in a valid batch.</summary>
    public int OffsetDelta { get; }

    /// <summary>Record attributes (unused by Kafka so far; zero).</summary>
    public sbyte Attributes { get; }

    /// <summary>Key bytes; empty when <see cref="KeyIsNull"/>.</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>True when the key is null (length -1), as distinct from empty.</summary>
    public bool KeyIsNull { get; }

    /// <summary>Value bytes; empty when <see cref="ValueIsNull"/>.</summary>
    public ReadOnlySpan<byte> Value { get; }

    /// <summary>True when the value is null (a tombstone), as distinct from empty.</summary>
    public bool ValueIsNull { get; }

    /// <summary>Number of headers.</summary>
    public int HeaderCount { get; }

    /// <summary>Iterates the headers in place.</summary>
    public RecordHeaderEnumerator Headers => new(_headers, HeaderCount);

    /// <summary>The headers as encoded (after the header count), for copying a record unchanged.</summary>
    internal ReadOnlySpan<byte> HeaderBytes => _headers;
}

/// <summary>One record header, viewed in place.</summary>
public readonly ref struct RecordHeader
{
    internal RecordHeader(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool valueIsNull)
    {
        Key = key;
        Value = value;
        ValueIsNull = valueIsNull;
    }

    /// <summary>Header key, UTF-8 bytes (never null in Kafka's format).</summary>
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>Header value; empty when <see cref="ValueIsNull"/>.</summary>
    public ReadOnlySpan<byte> Value { get; }

    /// <summary>True when the value is null.</summary>
    public bool ValueIsNull { get; }
}

/// <summary>Enumerates a record's headers; usable with <c>foreach</c>. The record was validated when parsed.</summary>
public ref struct RecordHeaderEnumerator
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly int _count;
    private int _position;
    private int _index;

    internal RecordHeaderEnumerator(ReadOnlySpan<byte> data, int count)
    {
        _data = data;
        _count = count;
        _position = 0;
        _index = 0;
        Current = default;
    }

    /// <summary>The current header.</summary>
    public RecordHeader Current { get; private set; }

    /// <summary>Returns this enumerator (for <c>foreach</c>).</summary>
    public readonly RecordHeaderEnumerator GetEnumerator() => this;

    /// <summary>Moves to the next header.</summary>
    public bool MoveNext()
    {
        if (_index >= _count)
        {
            return false;
        }

        // The record parser already checked every header's bounds, so these reads succeed.
        if (!RecordParser.TryReadHeader(_data, ref _position, out var header))
        {
            _index = _count;
            return false;
        }

        Current = header;
        _index++;
        return true;
    }
}

/// <summary>Why a record failed to parse.</summary>
internal enum RecordParseError
{
    None,
    Truncated,
    BadLength,
    BadKeyLength,
    BadValueLength,
    BadHeaderCount,
    BadHeaderKeyLength,
    BadHeaderValueLength,
    SizeMismatch,
}

/// <summary>Parses records of format v2 in place, with every length checked against its bounds.</summary>
internal static class RecordParser
{
    /// <summary>Smallest possible encoded record body: attributes, timestampDelta, offsetDelta, key, value, headers.</summary>
    private const int MinimumBodySize = 6;

    public static RecordParseError TryParse(
        ReadOnlySpan<byte> data,
        scoped ref int position,
        long baseOffset,
        long baseTimestamp,
        long logAppendTime,
        out Record record)
    {
        record = default;
        var p = position;
        if (!Varint.TryReadInt32(data, ref p, out var size))
        {
            return RecordParseError.Truncated;
        }

        if (size < MinimumBodySize)
        {
            return RecordParseError.BadLength;
        }

        if (size > data.Length - p)
        {
            return RecordParseError.Truncated;
        }

        var body = data.Slice(p, size);
        var b = 0;
        var attributes = (sbyte)body[b++];
        if (!Varint.TryReadInt64(body, ref b, out var timestampDelta) || !Varint.TryReadInt32(body, ref b, out var offsetDelta))
        {
            return RecordParseError.SizeMismatch;
        }

        if (!TryReadBytes(body, ref b, out var key, out var keyIsNull))
        {
            return RecordParseError.BadKeyLength;
        }

        if (!TryReadBytes(body, ref b, out var value, out var valueIsNull))
        {
            return RecordParseError.BadValueLength;
        }

        if (!Varint.TryReadInt32(body, ref b, out var headerCount))
        {
            return RecordParseError.SizeMismatch;
        }

        // Each header takes at least two bytes, so a count beyond that is a lie we refuse before looping.
        if (headerCount < 0 || headerCount > (body.Length - b) / 2)
        {
            return RecordParseError.BadHeaderCount;
        }

        var headersStart = b;
        for (var i = 0; i < headerCount; i++)
        {
            var error = SkipHeader(body, ref b);
            if (error != RecordParseError.None)
            {
                return error;
            }
        }

        if (b != body.Length)
        {
            return RecordParseError.SizeMismatch;
        }

        var timestamp = logAppendTime != long.MinValue ? logAppendTime : unchecked(baseTimestamp + timestampDelta);
        record = new Record(
            baseOffset,
            timestamp,
            timestampDelta,
            offsetDelta,
            attributes,
            key,
            keyIsNull,
            value,
            valueIsNull,
            headerCount,
            body[headersStart..]);
        position = p + size;
        return RecordParseError.None;
    }

    public static bool TryReadHeader(ReadOnlySpan<byte> data, scoped ref int position, out RecordHeader header)
    {
        header = default;
        var p = position;
        if (!TryReadBytes(data, ref p, out var key, out var keyIsNull) || keyIsNull)
        {
            return false;
        }

        if (!TryReadBytes(data, ref p, out var value, out var valueIsNull))
        {
            return false;
        }

        header = new RecordHeader(key, value, valueIsNull);
        position = p;
        return true;
    }

    public static string Describe(RecordParseError error) => error switch
    {
        RecordParseError.Truncated => "the record runs past the end of the batch",
        RecordParseError.BadLength => "the record length is invalid",
        RecordParseError.BadKeyLength => "the key length is invalid",
        RecordParseError.BadValueLength => "the value length is invalid",
        RecordParseError.BadHeaderCount => "the header count is invalid",
        RecordParseError.BadHeaderKeyLength => "a header key length is invalid",
        RecordParseError.BadHeaderValueLength => "a header value length is invalid",
        RecordParseError.SizeMismatch => "the record's fields do not add up to its declared length",
        _ => "the record is malformed",
    };

    private static RecordParseError SkipHeader(ReadOnlySpan<byte> body, scoped ref int b)
    {
        if (!TryReadBytes(body, ref b, out _, out var keyIsNull) || keyIsNull)
        {
            return RecordParseError.BadHeaderKeyLength;
        }

        return TryReadBytes(body, ref b, out _, out _) ? RecordParseError.None : RecordParseError.BadHeaderValueLength;
    }

    private static bool TryReadBytes(ReadOnlySpan<byte> data, scoped ref int position, out ReadOnlySpan<byte> bytes, out bool isNull)
    {
        bytes = default;
        isNull = false;
        var p = position;
        if (!Varint.TryReadInt32(data, ref p, out var length) || length < -1)
        {
            return false;
        }

        if (length == -1)
        {
            isNull = true;
            position = p;
            return true;
        }

        if (length > data.Length - p)
        {
            return false;
        }

        bytes = data.Slice(p, length);
        position = p + length;
        return true;
    }
}
