using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>The strict text-format parser the metrics tests rely on: it must refuse what Prometheus would.</summary>
public sealed class PrometheusTextTests
{
    private const string Valid = """
        # HELP requests_total Requests.
        # TYPE requests_total counter
        requests_total{api="Produce",note="a \"quoted\" \\ value"} 3
        # TYPE latency_seconds histogram
        latency_seconds_bucket{api="Fetch",le="0.1"} 1
        latency_seconds_bucket{api="Fetch",le="+Inf"} 2
        latency_seconds_sum{api="Fetch"} 0.3
        latency_seconds_count{api="Fetch"} 2

        """;

    [Fact]
    public void Parse_AValidScrape_ReadsEverySampleWithItsLabels()
    {
        var (samples, types) = PrometheusText.Parse(Valid);
        Assert.Equal("counter", types["requests_total"]);
        Assert.Equal(5, samples.Count);
        Assert.Equal("a \"quoted\" \\ value", samples[0].Labels["note"]);
        Assert.Equal(2, samples.Single(s => s.Name == "latency_seconds_count").Value);
    }

    [Theory]
    [InlineData("latency_seconds_sum{api=\"Fetch\"} 0.3", "latency_seconds_sum{api=\"Fetch\"} 0.3\nlatency_seconds_sum{api=\"Fetch\"} 0.3")]
    [InlineData("\\ value\"} 3", "\\ value\"} -1")]
    [InlineData("le=\"+Inf\"} 2", "le=\"+Inf\"} 0")]
    [InlineData("latency_seconds_count{api=\"Fetch\"} 2", "latency_seconds_count{api=\"Fetch\"} 5")]
    [InlineData("latency_seconds_sum{api=\"Fetch\"} 0.3", "latency_seconds_sum{api=\"Fetch\" 0.3")]
    [InlineData("latency_seconds_count{api=\"Fetch\"} 2", "latency_seconds_count{api=\"Fetch\"} 2\nother_metric 1")]
    [InlineData("\\\"quoted\\\"", "\\q")]
    [InlineData("} 0.3", "} fast")]
    [InlineData("# TYPE latency_seconds histogram", "# TYPE latency-seconds histogram")]
    public void Parse_ABrokenScrape_IsRefused(string find, string replace)
    {
        var broken = Valid.Replace(find, replace, StringComparison.Ordinal);
        Assert.NotEqual(Valid, broken);
        Assert.Throws<FormatException>(() => PrometheusText.Parse(broken));
    }
}
