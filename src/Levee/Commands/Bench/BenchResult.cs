using HdrHistogram;

namespace Levee.Commands.Bench;

/// <summary>What a client benchmark measured. Latency values are recorded in microseconds.</summary>
internal sealed class BenchResult
{
    /// <summary>Latencies up to one minute, three significant digits.</summary>
    public const long HighestTrackableMicros = 60_000_000;

    public bool Completed { get; init; }

    public long Records { get; init; }

    public long Bytes { get; init; }

    public long Errors { get; init; }

    public double ElapsedSeconds { get; init; }

    public required HistogramBase Latency { get; init; }

    /// <summary>e2e: the p99 of each second of the measured run, so a tail can be told from a backlog.</summary>
    public IReadOnlyList<double> P99MsBySecond { get; init; } = [];

    /// <summary>Time this bench process itself spent paused for garbage collection during the run.</summary>
    public double ClientGcPauseMs { get; init; }

    public double RecordsPerSecond => ElapsedSeconds > 0 ? Records / ElapsedSeconds : 0;

    public double MegabytesPerSecond => ElapsedSeconds > 0 ? Bytes / ElapsedSeconds / (1024.0 * 1024.0) : 0;

    public double PercentileMs(double percentile) =>
        Latency.TotalCount == 0 ? 0 : Latency.GetValueAtPercentile(percentile) / 1000.0;

    public double MaxMs => Latency.TotalCount == 0 ? 0 : Latency.GetMaxValue() / 1000.0;

    public double MeanMs => Latency.TotalCount == 0 ? 0 : Latency.GetMean() / 1000.0;

    public static LongHistogram NewHistogram() => new(HighestTrackableMicros, 3);
}
