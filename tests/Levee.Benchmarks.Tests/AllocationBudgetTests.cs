using System.Globalization;
using System.Text.Json;

namespace Levee.Benchmarks.Tests;

/// <summary>
/// Runs each hot-path operation of bench/Levee.Benchmarks many times and compares the bytes it allocates on
/// this thread with bench/allocation-budget.json: per operation (for a 10-record batch) and per record (the
/// difference between a 1000-record and a 10-record batch, divided by 990). A regression fails CI; an
/// intended change updates the budget file in the same commit.
/// </summary>
public sealed class AllocationBudgetTests : IClassFixture<AllocationBudgetTests.Fixtures>
{
    private const int SmallBatch = 10;
    private const int LargeBatch = 1000;

    private static readonly Dictionary<string, Func<HotPathFixture, long>> Operations = new(StringComparer.Ordinal)
    {
        ["ProduceRequestDecode"] = f => f.DecodeProduceRequest(),
        ["ProduceRequestEncode"] = f => f.EncodeProduceRequest(),
        ["ProduceResponseEncode"] = f => f.EncodeProduceResponse(),
        ["FetchRequestDecode"] = f => f.DecodeFetchRequest(),
        ["FetchRequestEncode"] = f => f.EncodeFetchRequest(),
        ["FetchResponseEncode"] = f => f.EncodeFetchResponse(),
        ["BatchValidate"] = f => f.ValidateBatch(),
        ["BatchCrc32C"] = f => f.Crc32CBatch(),
        ["LogAppend"] = f => f.AppendBatch(),
        ["IndexLookup"] = f => f.IndexLookup(),
        ["LogReadForFetch"] = f => f.ReadForFetch(),
        ["FetchToPipe"] = f => f.FetchToPipe(),
    };

    private readonly Fixtures _fixtures;

    public AllocationBudgetTests(Fixtures fixtures) => _fixtures = fixtures;

    public static TheoryData<string> OperationNames => [.. Operations.Keys];

    [Fact]
    public void BudgetFile_CoversEveryOperation()
    {
        var budget = Budget.Load();
        Assert.Equal(Operations.Keys.Order(StringComparer.Ordinal), budget.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(OperationNames))]
    public void HotPathOperation_AllocatesWithinBudget(string name)
    {
        var budget = Budget.Load()[name];
        var operation = Operations[name];
        var small = BytesPerOperation(operation, _fixtures.Small);
        var large = BytesPerOperation(operation, _fixtures.Large);
        var perRecord = (large - small) / (LargeBatch - SmallBatch);

        Assert.True(
            small <= budget.BytesPerOperation,
            string.Create(CultureInfo.InvariantCulture, $"{name} allocates {small:0.#} B per operation, over its budget of {budget.BytesPerOperation} B (bench/allocation-budget.json)."));
        Assert.True(
            perRecord <= budget.BytesPerRecord + 0.5,
            string.Create(CultureInfo.InvariantCulture, $"{name} allocates {perRecord:0.##} B per record, over its budget of {budget.BytesPerRecord} B (bench/allocation-budget.json)."));
    }

    private static double BytesPerOperation(Func<HotPathFixture, long> operation, HotPathFixture fixture)
    {
        const int warmup = 100;
        const int iterations = 1000;
        long sink = 0;
        for (var i = 0; i < warmup; i++)
        {
            sink += operation(fixture);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < iterations; i++)
        {
            sink += operation(fixture);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(sink);
        return (double)allocated / iterations;
    }

    /// <summary>One fixture per batch shape, shared by all the tests of the class.</summary>
    public sealed class Fixtures : IDisposable
    {
        public HotPathFixture Small { get; } = new(SmallBatch, recordSize: 100);

        public HotPathFixture Large { get; } = new(LargeBatch, recordSize: 100);

        public void Dispose()
        {
            Small.Dispose();
            Large.Dispose();
        }
    }

    private sealed record Budget(long BytesPerOperation, long BytesPerRecord)
    {
        public static Dictionary<string, Budget> Load()
        {
            using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "allocation-budget.json")));
            return document.RootElement.GetProperty("operations").EnumerateObject().ToDictionary(
                p => p.Name,
                p => new Budget(p.Value.GetProperty("bytes_per_operation").GetInt64(), p.Value.GetProperty("bytes_per_record").GetInt64()),
                StringComparer.Ordinal);
        }
    }
}
