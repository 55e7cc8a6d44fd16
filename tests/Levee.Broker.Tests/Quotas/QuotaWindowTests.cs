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
}
