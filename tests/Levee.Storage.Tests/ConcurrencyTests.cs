namespace Levee.Storage.Tests;

public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Reads_RacingWithAppendsRollsAndRetention_AlwaysSeeWholeValidBatches()
    {
        using var dir = new TempDir();
        var size = TestBatches.Build(3).Length;
        var config = LogConfig.Default with { SegmentBytes = size * 5, IndexIntervalBytes = size, RetentionBytes = size * 20, FileDeleteDelayMs = 0 };
        using var log = LogExtensions.OpenLog(dir.Sub("orders-0"), config);
        using var done = new CancellationTokenSource();
        var reads = 0;

        var reader = Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                var start = log.LogStartOffset;
                var end = log.LogEndOffset;
                if (end == start)
                {
                    continue;
                }

                var offset = start + ((end - start) / 2);
                LogReadResult read;
                byte[] bytes;
                try
                {
                    read = log.Read(offset, size * 4, end, minOneBatch: true);
                    bytes = read.ReadBytes();
                }
                catch (OffsetOutOfRangeException)
                {
                    continue; // retention moved the start past our offset meanwhile
                }
                catch (ObjectDisposedException)
                {
                    continue; // the segment was deleted (delay 0) between Read and CopyTo
                }

                var batches = TestBatches.Offsets(bytes);
                Assert.NotEmpty(batches);
                Assert.InRange(offset, batches[0].Base, batches[0].Last);
                for (var i = 1; i < batches.Count; i++)
                {
                    Assert.Equal(batches[i - 1].Last + 1, batches[i].Base);
                }

                Interlocked.Increment(ref reads);
            }
        });

        for (var i = 0; i < 2000; i++)
        {
            log.Append(TestBatches.Build(3));
            if (i % 50 == 0)
            {
                log.ApplyRetention(2000);
            }
        }

        // On a busy 2-core machine the reader may start late: let it read the settled log too.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Volatile.Read(ref reads) < 10 && DateTime.UtcNow < deadline && !reader.IsCompleted)
        {
            await Task.Delay(10);
        }

        await done.CancelAsync();
        await reader;
        Assert.True(Volatile.Read(ref reads) >= 10);
        Assert.Equal(6000, log.LogEndOffset);
    }
}
