using Levee.Broker.Quotas;

namespace Levee.Broker.Tests.Quotas;

/// <summary>Kafka's quota measurement: rate over the sampled span, padded to num - 1 windows, and its throttle time.</summary>
public sealed class QuotaWindowTests
{
    private const long Start = 1_000_000;

    [Fact]
    public void ANewClient_MaySendTheQuotaOfTheWholePaddedSpan_AndIsThrottledForWhatItSendsBeyond()
    {
        var window = new QuotaWindow(samples: 11, windowMs: 1000, nowMs: Start);

        // 10 windows of 100 B/s: 1000 bytes at once are within the quota.
        Assert.Equal(0, window.Record(1000, quota: 100, Start, maxThrottleMs: 11_000));

        // 500 more: 1500 over a 10 s span is 150 B/s, 50 % over: throttled for half the span.
        Assert.Equal(5000, window.Record(500, quota: 100, Start, maxThrottleMs: 11_000));

        // The throttle is bounded.
        Assert.Equal(11_000, window.Record(100_000, quota: 100, Start, maxThrottleMs: 11_000));
    }

    [Fact]
    public void TakingBackWhatWasRecorded_LeavesTheRateAsBefore()
    {
        var window = new QuotaWindow(11, 1000, Start);
        window.Record(800, 100, Start, 11_000);
        Assert.True(window.Record(5000, 100, Start + 10, 11_000) > 0);
        Assert.Equal(0, window.Record(-5000, 100, Start + 20, 11_000));
        Assert.InRange(window.Rate(Start + 20), 79, 80);
    }

    [Fact]
    public void SamplesOlderThanTheWholeSpanAreForgotten()
    {
        var window = new QuotaWindow(11, 1000, Start);
        Assert.True(window.Record(5000, 100, Start, 11_000) > 0);

        // 11 s later the burst has expired: the client is within its quota again.
        Assert.Equal(0, window.Check(100, Start + 11_000, 11_000));
        Assert.Equal(0, window.Rate(Start + 11_000));
    }

    [Fact]
    public void SteadySending_UnderTheQuota_IsNeverThrottled_AndAboveItIs()
    {
        var under = new QuotaWindow(11, 1000, Start);
        var above = new QuotaWindow(11, 1000, Start);
        long throttledUnder = 0, throttledAbove = 0;
        for (var ms = 0L; ms < 60_000; ms += 100)
        {
            throttledUnder += under.Record(9, 100, Start + ms, 11_000);
            throttledAbove += above.Record(12, 100, Start + ms, 11_000);
        }

        Assert.Equal(0, throttledUnder);
        Assert.True(throttledAbove > 0);
    }

    /// <summary>
    /// A client as greedy as it can be, sending a request each time it is admitted: over any 33 s after the first 11 it
    /// gets its quota within 1% and one request, and no second more than twice the quota (the windows' rate alone would let it send eleven
    /// seconds' worth at once each time the sample holding its last burst expires).
    /// </summary>
    [Theory]
    [InlineData(16_384)]
    [InlineData(1_000)]
    [InlineData(60_000)]
    public void AdmittingFlatOut_GivesTheQuotaEvenly_WithoutBurstsWhenSamplesExpire(int request)
    {
        const double quota = 64 * 1024;
        var window = new QuotaWindow(11, 1000, Start);
        var admitted = new List<(long Ms, int Bytes)>();
        for (var ms = 0L; ms < 120_000;)
        {
            var wait = window.TryRecord(request, quota, Start + ms, 11_000, out _);
            if (wait == 0)
            {
                admitted.Add((ms, request));
                ms += 2;
            }
            else
            {
                ms += wait;
            }
        }

        for (var from = 11_000L; from + 33_000 <= 120_000; from += 1_000)
        {
            var bytes = admitted.Where(a => a.Ms >= from && a.Ms < from + 33_000).Sum(a => (long)a.Bytes);
            // Within 1%, and one request either way (a window holds a whole number of them).
            var slack = 0.01 + (request / 33.0 / quota);
            Assert.InRange(bytes / 33.0 / quota, 1 - slack, 1 + slack);
        }

        for (var second = 1L; second < 120; second++)
        {
            var bytes = admitted.Where(a => a.Ms >= second * 1000 && a.Ms < (second + 1) * 1000).Sum(a => (long)a.Bytes);
            Assert.True(bytes <= (2 * quota) + request, $"second {second}: {bytes} bytes");
        }
    }

    [Fact]
    public void AnAdmittedRequest_IsMeasured_AndItsDebtIsTheWaitOfTheNext()
    {
        var window = new QuotaWindow(11, 1000, Start);

        // One window's worth (100 B) may go at once; 50 more leaves the bucket 50 B in debt: half a second.
        Assert.Equal(0, window.TryRecord(100, 100, Start, 11_000, out var after));
        Assert.Equal(0, after);
        Assert.Equal(0, window.TryRecord(50, 100, Start, 11_000, out after));
        Assert.Equal(500, after);
        Assert.Equal(500, window.TryRecord(1, 100, Start + 1, 11_000, out _) + 1);
        Assert.Equal(0, window.TryRecord(1, 100, Start + 501, 11_000, out _));

        // 151 B over the 501 ms elapsed, padded with 10 whole windows.
        Assert.InRange(window.Rate(Start + 501), 14.37, 14.39);
    }
}
