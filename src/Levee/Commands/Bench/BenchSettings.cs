using System.Globalization;
using Confluent.Kafka;

namespace Levee.Commands.Bench;

/// <summary>What a client benchmark measures.</summary>
internal enum BenchMode
{
    Produce,
    Consume,
    EndToEnd,
}

/// <summary>The settings of one client benchmark run, as given on the command line.</summary>
internal sealed record BenchSettings
{
    public required BenchMode Mode { get; init; }

    public required string Bootstrap { get; init; }

    public required string Topic { get; init; }

    public required long Records { get; init; }

    public required int Size { get; init; }

    public required int Partitions { get; init; }

    public required int Producers { get; init; }

    public required string Acks { get; init; }

    public required string Compression { get; init; }

    public required double Rate { get; init; }

    public required double LingerMs { get; init; }

    public required int TimeoutSeconds { get; init; }

    public bool Progress { get; init; } = true;

    /// <summary>--command-config: client settings (security) applied to every client of the run.</summary>
    public string? CommandConfig { get; init; }

    public string ModeName => Mode switch
    {
        BenchMode.Produce => "produce",
        BenchMode.Consume => "consume",
        _ => "e2e",
    };

    public Acks KafkaAcks => Acks switch
    {
        "0" => Confluent.Kafka.Acks.None,
        "1" => Confluent.Kafka.Acks.Leader,
        _ => Confluent.Kafka.Acks.All,
    };

    public CompressionType KafkaCompression => Compression switch
    {
        "gzip" => CompressionType.Gzip,
        "snappy" => CompressionType.Snappy,
        "lz4" => CompressionType.Lz4,
        "zstd" => CompressionType.Zstd,
        _ => CompressionType.None,
    };

    /// <summary>Returns a message for the first invalid setting, or null.</summary>
    public string? Validate()
    {
        if (Records <= 0 || Partitions <= 0 || Producers <= 0 || TimeoutSeconds <= 0)
        {
            return "--records, --partitions, --producers and --timeout-s must be positive.";
        }

        if (Size < (Mode == BenchMode.EndToEnd ? 8 : 0))
        {
            return "--size must be at least 8 for e2e (the record carries its send time).";
        }

        if (Acks is not ("0" or "1" or "all" or "-1"))
        {
            return string.Create(CultureInfo.InvariantCulture, $"--acks must be 0, 1 or all, not {Acks}.");
        }

        if (Compression is not ("none" or "gzip" or "snappy" or "lz4" or "zstd"))
        {
            return $"--compression must be none, gzip, snappy, lz4 or zstd, not {Compression}.";
        }

        if (Mode == BenchMode.EndToEnd && Rate <= 0)
        {
            return "e2e measures latency at a fixed offered load: give --rate.";
        }

        return Rate < 0 ? "--rate must not be negative." : null;
    }
}
