using System.Text;
using Levee.Protocol.Records;

namespace Levee.Protocol.Tests.Records;

internal static class TestBatches
{
    public const long Now = 1_700_000_000_000;

    public static ValidationOptions Options => new() { NowMs = Now };

    public static RecordData[] SampleRecords(int count = 5) =>
        Enumerable.Range(0, count).Select(i => new RecordData(
            Key: i % 3 == 1 ? null : (ReadOnlyMemory<byte>?)Encoding.UTF8.GetBytes($"key-{i}"),
            Value: i % 4 == 3 ? null : (ReadOnlyMemory<byte>?)Encoding.UTF8.GetBytes(new string('v', i * 37) + i),
            Timestamp: Now + i,
            Headers: i % 2 == 0
                ? [new RecordHeaderData("h1", Encoding.UTF8.GetBytes($"hv{i}")), new RecordHeaderData("h2", null), new RecordHeaderData("h3", Array.Empty<byte>())]
                : null)).ToArray();

    public static byte[] Build(CompressionType compression, RecordData[]? records = null, RecordBatchOptions? options = null)
    {
        var o = (options ?? new RecordBatchOptions()) with { Compression = compression };
        return RecordBatchBuilder.BuildToArray(o, records ?? SampleRecords());
    }

    public static void Recrc(byte[] batch) => RecordBatchHeader.WriteCrc(batch);
}
