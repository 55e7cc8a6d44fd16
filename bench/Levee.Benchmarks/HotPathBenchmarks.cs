using System.Diagnostics.CodeAnalysis;
using BenchmarkDotNet.Attributes;

namespace Levee.Benchmarks;

/// <summary>
/// Time and allocation per operation of the broker's hot paths, for a small and a large batch of 100-byte
/// records: what grows with the record count is per-record cost. The allocation budget test
/// (tests/Levee.Benchmarks.Tests) checks the same operations against bench/allocation-budget.json.
/// </summary>
[MemoryDiagnoser]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet disposes the fixture in [GlobalCleanup].")]
public class HotPathBenchmarks
{
    private HotPathFixture _fixture = null!;

    [Params(10, 1000)]
    public int RecordsPerBatch { get; set; }

    [GlobalSetup]
    public void Setup() => _fixture = new HotPathFixture(RecordsPerBatch, recordSize: 100);

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    [Benchmark]
    public int ProduceRequestDecode() => _fixture.DecodeProduceRequest();

    [Benchmark]
    public int ProduceRequestEncode() => _fixture.EncodeProduceRequest();

    [Benchmark]
    public int ProduceResponseEncode() => _fixture.EncodeProduceResponse();

    [Benchmark]
    public int FetchRequestDecode() => _fixture.DecodeFetchRequest();

    [Benchmark]
    public int FetchRequestEncode() => _fixture.EncodeFetchRequest();

    [Benchmark]
    public int FetchResponseEncode() => _fixture.EncodeFetchResponse();

    [Benchmark]
    public long BatchValidate() => _fixture.ValidateBatch();

    [Benchmark]
    public uint BatchCrc32C() => _fixture.Crc32CBatch();

    [Benchmark]
    public int BatchRecompressZstd() => _fixture.RecompressBatch();

    [Benchmark]
    public long LogAppend() => _fixture.AppendBatch();

    [Benchmark]
    public int IndexLookup() => _fixture.IndexLookup();

    [Benchmark]
    public int LogReadForFetch() => _fixture.ReadForFetch();

    [Benchmark]
    public int FetchToPipe() => _fixture.FetchToPipe();

    [Benchmark]
    public int FetchToPipeCopied() => _fixture.FetchToPipeCopied();
}
