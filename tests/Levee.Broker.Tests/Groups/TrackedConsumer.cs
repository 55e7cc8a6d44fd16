using System.Collections.Concurrent;
using Confluent.Kafka;

namespace Levee.Broker.Tests.Groups;

/// <summary>Who owns which partition right now, across the consumers of one test; records double ownership.</summary>
internal sealed class OwnershipLedger
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, string> _owners = [];

    public List<string> Violations { get; } = [];

    public void Assigned(string consumer, IEnumerable<int> partitions)
    {
        lock (_lock)
        {
            foreach (var p in partitions)
            {
                if (_owners.TryGetValue(p, out var owner) && owner != consumer)
                {
                    Violations.Add($"partition {p} assigned to {consumer} while {owner} still owns it");
                }

                _owners[p] = consumer;
            }
        }
    }

    public void Released(string consumer, IEnumerable<int> partitions)
    {
        lock (_lock)
        {
            foreach (var p in partitions)
            {
                if (_owners.TryGetValue(p, out var owner) && owner == consumer)
                {
                    _owners.Remove(p);
                }
            }
        }
    }

    public Dictionary<int, string> Snapshot()
    {
        lock (_lock)
        {
            return new Dictionary<int, string>(_owners);
        }
    }

    public string Describe() => string.Join(", ", Snapshot().OrderBy(p => p.Key).Select(p => $"{p.Key}->{p.Value}"));
}

/// <summary>One consumption or successful commit, in the order the test observed them.</summary>
internal readonly record struct Event(long Sequence, string Consumer, int Partition, long Offset);

/// <summary>
/// A Confluent.Kafka consumer polled on its own thread (rebalance callbacks run inside Consume), committing
/// synchronously after every record, and reporting what it owns, reads and commits.
/// </summary>
internal sealed class TrackedConsumer : IDisposable
{
    private static long s_sequence;
    private readonly IConsumer<string, string> _consumer;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly OwnershipLedger _ledger;
    private readonly Lock _lock = new();
    private readonly HashSet<int> _owned = [];
    private bool _closeOnStop = true;

    public TrackedConsumer(string name, ConsumerConfig config, string topic, OwnershipLedger ledger, bool commitEachRecord = true)
    {
        Name = name;
        _ledger = ledger;
        _consumer = new ConsumerBuilder<string, string>(config)
            .SetPartitionsAssignedHandler((_, partitions) =>
            {
                var ps = partitions.Select(p => p.Partition.Value).ToList();
                _ledger.Assigned(Name, ps);
                lock (_lock)
                {
                    _owned.UnionWith(ps);
                }
            })
            .SetPartitionsRevokedHandler((_, partitions) => Release(partitions.Select(p => p.Partition.Value)))
            .SetPartitionsLostHandler((_, partitions) => Release(partitions.Select(p => p.Partition.Value)))
            .Build();
        _consumer.Subscribe(topic);
        _thread = new Thread(() => Run(commitEachRecord)) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public string Name { get; }

    public ConcurrentQueue<Event> Consumed { get; } = new();

    public ConcurrentQueue<Event> Committed { get; } = new();

    public ConcurrentQueue<string> Errors { get; } = new();

    public HashSet<int> Owned
    {
        get
        {
            lock (_lock)
            {
                return [.. _owned];
            }
        }
    }

    /// <summary>Stops polling and closes the consumer (LeaveGroup), or, with <paramref name="leave"/> false, just stops polling.</summary>
    public void Stop(bool leave = true)
    {
        _closeOnStop = leave;
        _stop.Cancel();
        _thread.Join();
    }

    public void Dispose()
    {
        if (!_stop.IsCancellationRequested)
        {
            Stop();
        }

        _consumer.Dispose();
        _stop.Dispose();
    }

    private void Release(IEnumerable<int> partitions)
    {
        var ps = partitions.ToList();
        lock (_lock)
        {
            _owned.ExceptWith(ps);
        }

        _ledger.Released(Name, ps);
    }

    private void Run(bool commitEachRecord)
    {
        while (!_stop.IsCancellationRequested)
        {
            ConsumeResult<string, string>? result;
            try
            {
                result = _consumer.Consume(100);
            }
            catch (ConsumeException e)
            {
                Errors.Enqueue(e.Error.ToString());
                continue;
            }

            if (result is null || result.IsPartitionEOF)
            {
                continue;
            }

            Consumed.Enqueue(new Event(Interlocked.Increment(ref s_sequence), Name, result.Partition.Value, result.Offset.Value));
            if (!commitEachRecord)
            {
                continue;
            }

            try
            {
                _consumer.Commit(result);
                Committed.Enqueue(new Event(Interlocked.Increment(ref s_sequence), Name, result.Partition.Value, result.Offset.Value + 1));
            }
            catch (KafkaException e)
            {
                // A commit refused during a rebalance is allowed: that record may be read again.
                Errors.Enqueue("commit: " + e.Error);
            }
        }

        if (_closeOnStop)
        {
            _consumer.Close();
        }
    }
}
