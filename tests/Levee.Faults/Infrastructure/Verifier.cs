using System.Globalization;
using Confluent.Kafka;

namespace Levee.Faults.Infrastructure;

/// <summary>
/// Reads every partition back from the beginning up to its high watermark (assign + seek, no group) and checks
/// that every acknowledged record is there, at the offset it was acknowledged with, exactly once and in order.
/// </summary>
public static class Verifier
{
    public sealed record PartitionLog(int Partition, long HighWatermark, IReadOnlyList<(long Offset, string Value)> Records);

    /// <summary>Reads one partition from the beginning to its high watermark.</summary>
    public static PartitionLog Read(string bootstrapServers, string topic, int partition, TimeSpan timeout)
    {
        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = bootstrapServers,
            GroupId = "verifier-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnablePartitionEof = true,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        var tp = new TopicPartition(topic, partition);
        var deadline = DateTime.UtcNow + timeout;
        var high = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10)).High.Value;
        consumer.Assign(new TopicPartitionOffset(tp, Offset.Beginning));
        var records = new List<(long, string)>();
        var next = 0L;
        while (next < high)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Reading p{partition}: reached offset {next} of {high} in {timeout.TotalSeconds:0} s.");
            }

            var result = consumer.Consume(TimeSpan.FromSeconds(1));
            if (result is null || result.IsPartitionEOF)
            {
                continue;
            }

            if (result.Offset.Value >= high)
            {
                break;
            }

            records.Add((result.Offset.Value, result.Message.Value));
            next = result.Offset.Value + 1;
        }

        return new PartitionLog(partition, high, records);
    }

    /// <summary>
    /// The records librdkafka reported persisted without an offset (no broker acknowledged an offset for them) that
    /// are not in the partition read back.
    /// </summary>
    public static int UnconfirmedMissing(PartitionLog log, IReadOnlyList<Acknowledged> acks)
    {
        ArgumentNullException.ThrowIfNull(log);
        var present = log.Records.Select(r => r.Value).ToHashSet(StringComparer.Ordinal);
        return acks.Count(a => a.Offset < 0 && !present.Contains(a.Value));
    }

    /// <summary>How many records reported persisted without an offset the checks so far found absent (see <see cref="UnconfirmedMissing"/>).</summary>
    public static int Unconfirmed { get; private set; }

    /// <summary>Checks every partition against the checker's acknowledgements; returns a list of violations (empty when all is well).</summary>
    public static List<string> Check(string bootstrapServers, string topic, int partitions, Checker checker, out int recordsRead)
    {
        var problems = new List<string>();
        recordsRead = 0;
        for (var p = 0; p < partitions; p++)
        {
            // Acknowledged before the read: each is then below the high watermark read (acks=all), even while
            // the checker still has records in flight.
            var acks = checker.AcksOf(p);
            var log = Read(bootstrapServers, topic, p, TimeSpan.FromSeconds(60));
            recordsRead += log.Records.Count;
            problems.AddRange(CheckPartition(log, acks).Take(10));
            Unconfirmed += UnconfirmedMissing(log, acks);
        }

        return problems;
    }

    /// <summary>The pure check of one partition: present, at its offset, once, in order.</summary>
    public static IEnumerable<string> CheckPartition(PartitionLog log, IReadOnlyList<Acknowledged> acks)
    {
        var byOffset = new Dictionary<long, string>();
        var occurrences = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (offset, value) in log.Records)
        {
            byOffset[offset] = value;
            occurrences[value] = occurrences.GetValueOrDefault(value) + 1;
        }

        foreach (var ack in acks)
        {
            if (ack.Offset < 0)
            {
                // Reported persisted without an offset (librdkafka's Offset.Unset): no broker acknowledged an offset
                // for it, librdkafka inferred it from a later batch's success (its implicit acknowledgement, which
                // also covers batches refused with nothing written: docs/faults.md). Never twice; its absence is
                // counted apart (UnconfirmedMissing).
                if (occurrences.GetValueOrDefault(ack.Value) > 1)
                {
                    yield return $"p{log.Partition}: {ack.Value}, reported persisted without an offset, is present {occurrences[ack.Value]} times";
                }
            }
            else if (ack.Offset >= log.HighWatermark)
            {
                yield return $"p{log.Partition}: {ack.Value} acknowledged at offset {ack.Offset} but the high watermark is {log.HighWatermark}";
            }
            else if (!byOffset.TryGetValue(ack.Offset, out var found))
            {
                yield return $"p{log.Partition}: {ack.Value} acknowledged at offset {ack.Offset} is missing (no record at that offset)";
            }
            else if (!string.Equals(found, ack.Value, StringComparison.Ordinal))
            {
                yield return $"p{log.Partition}: {ack.Value} acknowledged at offset {ack.Offset} but that offset holds {found}";
            }
            else if (occurrences[ack.Value] != 1)
            {
                yield return $"p{log.Partition}: {ack.Value} is present {occurrences[ack.Value]} times";
            }
        }

        // In order: by offset, the acknowledged sequences only go up.
        var ordered = acks.Where(a => a.Offset >= 0).OrderBy(a => a.Offset).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Sequence <= ordered[i - 1].Sequence)
            {
                yield return $"p{log.Partition}: out of order: {ordered[i - 1].Value} at {ordered[i - 1].Offset.ToString(CultureInfo.InvariantCulture)} before {ordered[i].Value} at {ordered[i].Offset.ToString(CultureInfo.InvariantCulture)}";
                break;
            }
        }
    }
}
