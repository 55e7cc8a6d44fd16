using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;

namespace Levee.Faults.Infrastructure;

/// <summary>
/// Reads the topic as a consumer group (subscribe, a fresh group id, earliest, no auto-commit) with several
/// members polled in turn, and checks that every acknowledged record is seen, that each member sees each
/// partition's records in offset order between two assignments (a rebalance may make a new owner read a
/// partition again from the start: duplicates are allowed, gaps and reordering are not), and that the
/// group's offsets are committed up to the end of every partition and read back through OffsetFetch.
/// </summary>
public static class GroupReader
{
    public sealed record Result(string GroupId, int Members, long RecordsSeen, long Duplicates, int Assignments, TimeSpan FirstRecordAfter, TimeSpan AllSeenAfter, TimeSpan CommittedAfter, List<string> Problems, IReadOnlyList<string> ClientErrors);

    /// <summary>
    /// Consumes until every acknowledged record was seen and the group committed
    /// past them all, or the deadline passes.
    /// </summary>
    public static Result Read(string bootstrapServers, string topic, int partitions, Checker checker, string groupId, int members, TimeSpan deadline)
    {
        var watch = Stopwatch.StartNew();
        var problems = new List<string>();
        var clientErrors = new List<string>();

        // What must be seen: every acknowledged (partition, value), and at which offset it was acknowledged.
        var acks = Enumerable.Range(0, partitions).Select(checker.AcksOf).ToArray();
        // librdkafka may report a delivery as persisted without its offset (-1001, Offset.Unset): no broker
        // acknowledged it; librdkafka inferred it from a later batch's success, even after the broker had refused it
        // with nothing written (its implicit acknowledgement, docs/faults.md). Such records are not required here
        // (Verifier reports them apart).
        var ackedAt = acks.Select(a => a.Where(x => x.Offset >= 0).ToDictionary(x => x.Offset, x => x.Value)).ToArray();
        var unseen = acks.Select(a => new HashSet<string>(a.Where(x => x.Offset >= 0).Select(x => x.Value), StringComparer.Ordinal)).ToArray();
        var end = acks.Select(a => a.Length == 0 ? 0L : a.Max(x => x.Offset) + 1).ToArray();
        var remaining = unseen.Sum(s => s.Count);

        var states = new MemberState[members];
        var consumers = new IConsumer<string, string>[members];
        var assignments = 0;
        long seen = 0, duplicates = 0;
        var firstRecord = TimeSpan.Zero;
        var allSeen = TimeSpan.Zero;
        var committed = TimeSpan.Zero;
        try
        {
            for (var m = 0; m < members; m++)
            {
                var state = states[m] = new MemberState(partitions);
                consumers[m] = new ConsumerBuilder<string, string>(new ConsumerConfig
                {
                    BootstrapServers = bootstrapServers,
                    GroupId = groupId,
                    ClientId = string.Create(CultureInfo.InvariantCulture, $"{groupId}-member-{m}"),
                    AutoOffsetReset = AutoOffsetReset.Earliest,
                    EnableAutoCommit = false,
                    SocketTimeoutMs = 10_000,
                })
                .SetPartitionsAssignedHandler((_, assigned) =>
                {
                    // A (re)assigned partition starts again from the group's committed offset (none: the beginning).
                    Interlocked.Increment(ref assignments);
                    foreach (var tp in assigned)
                    {
                        state.Next[tp.Partition.Value] = -1;
                    }
                })
                .SetErrorHandler((_, e) =>
                {
                    lock (clientErrors)
                    {
                        clientErrors.Add((e.IsFatal ? "fatal: " : "") + e);
                    }
                })
                .Build();
                consumers[m].Subscribe(topic);
            }

            var allCommitted = false;
            var lastCommitAttempt = -TimeSpan.FromDays(1);
            while (!allCommitted)
            {
                if (watch.Elapsed > deadline)
                {
                    var missing = Enumerable.Range(0, partitions).Where(p => unseen[p].Count > 0).Select(p => $"p{p}: {unseen[p].Count} unseen (e.g. {unseen[p].First()})");
                    var what = remaining > 0 ? $"{remaining} acknowledged records unseen [{string.Join("; ", missing)}]" : "every record seen but the offsets not committed past them all";
                    problems.Add($"group {groupId}: timed out after {deadline.TotalSeconds:0} s: {what}; assignments: "
                        + string.Join(" | ", consumers.Select((c, i) => $"member {i}: [{string.Join(',', c.Assignment.Select(tp => tp.Partition.Value))}]")));
                    break;
                }

                for (var m = 0; m < members; m++)
                {
                    var result = consumers[m].Consume(TimeSpan.FromMilliseconds(remaining == 0 ? 50 : 100));
                    if (result is null || result.IsPartitionEOF)
                    {
                        continue;
                    }

                    var p = result.Partition.Value;
                    var offset = result.Offset.Value;
                    var value = result.Message.Value;
                    if (seen++ == 0)
                    {
                        firstRecord = watch.Elapsed;
                    }

                    // In offset order for this member since the partition was assigned to it.
                    var next = states[m].Next[p];
                    if (next >= 0 && offset != next && problems.Count < 30)
                    {
                        problems.Add($"group {groupId}: member {m} read p{p} offset {offset} after offset {next - 1} ({(offset < next ? "backwards" : "skipped")}) within one assignment");
                    }

                    states[m].Next[p] = offset + 1;
                    if (ackedAt[p].TryGetValue(offset, out var expected) && !string.Equals(expected, value, StringComparison.Ordinal) && problems.Count < 30)
                    {
                        problems.Add($"group {groupId}: p{p} offset {offset} holds {value}, {expected} was acknowledged there");
                    }

                    if (unseen[p].Remove(value))
                    {
                        if (--remaining == 0)
                        {
                            allSeen = watch.Elapsed;
                        }
                    }
                    else
                    {
                        duplicates++;
                    }
                }

                if (remaining > 0 || watch.Elapsed - lastCommitAttempt < TimeSpan.FromMilliseconds(500))
                {
                    continue;
                }

                // Every record seen: once every partition's current owner has read to its end, commit and read the
                // offsets back (OffsetFetch); retried while the group rebalances or its coordinator moves.
                var owners = new int?[partitions];
                for (var m = 0; m < members; m++)
                {
                    foreach (var tp in consumers[m].Assignment)
                    {
                        owners[tp.Partition.Value] = m;
                    }
                }

                if (!Enumerable.Range(0, partitions).All(p => owners[p] is { } o && states[o].Next[p] >= end[p]))
                {
                    continue;
                }

                lastCommitAttempt = watch.Elapsed;
                try
                {
                    for (var m = 0; m < members; m++)
                    {
                        var offsets = consumers[m].Assignment.Select(tp => new TopicPartitionOffset(tp, states[m].Next[tp.Partition.Value])).ToList();
                        if (offsets.Count > 0)
                        {
                            consumers[m].Commit(offsets);
                        }
                    }

                    var read = consumers[0].Committed(Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)), TimeSpan.FromSeconds(10));
                    allCommitted = read.Count == partitions && read.All(c => c.Offset.Value >= end[c.Partition.Value]);
                    if (allCommitted)
                    {
                        committed = watch.Elapsed;
                    }
                }
                catch (TopicPartitionOffsetException ex)
                {
                    var failed = ex.Results.Where(r => r.Error.IsError).Select(r => $"p{r.Partition.Value}: {r.Error.Reason}");
                    lock (clientErrors)
                    {
                        clientErrors.Add($"commit: {ex.Error.Reason} [{string.Join("; ", failed)}]");
                    }
                }
                catch (KafkaException ex)
                {
                    lock (clientErrors)
                    {
                        clientErrors.Add("commit: " + ex.Error.Reason);
                    }
                }
            }
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                if (consumer is null)
                {
                    continue;
                }

                try
                {
                    consumer.Close();
                }
                catch (KafkaException)
                {
                    // Leaving the group is best effort.
                }

                consumer.Dispose();
            }
        }

        lock (clientErrors)
        {
            problems.AddRange(clientErrors.Where(e => e.StartsWith("fatal", StringComparison.Ordinal)).Select(e => $"group {groupId}: {e}"));
            return new Result(groupId, members, seen, duplicates, assignments, firstRecord, allSeen, committed, problems, [.. clientErrors]);
        }
    }

    private sealed class MemberState(int partitions)
    {
        /// <summary>Per partition: the offset after the last record this member read since it was assigned the partition; -1 when none yet.</summary>
        public long[] Next { get; } = [.. Enumerable.Repeat(-1L, partitions)];
    }
}
