using System.Buffers.Binary;
using System.Collections.Concurrent;
using Levee.Protocol.Records;

namespace Levee.Commands.Bench;

/// <summary>
/// Everything the null broker remembers: topic names, ids and partition counts, and one offset counter per
/// partition so Produce answers with increasing offsets. No records are kept.
/// </summary>
internal sealed class NullBrokerState
{
    /// <summary>About this many bytes of records in the batch that Fetch serves for every partition.</summary>
    private const int FetchBatchBytes = 256 * 1024;

    private readonly ConcurrentDictionary<string, NullTopic> _topics = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, NullTopic> _byId = new();

    public NullBrokerState(string host, int defaultPartitions, int fetchRecordSize)
    {
        Host = host;
        DefaultPartitions = defaultPartitions;
        var value = new byte[fetchRecordSize];
        value.AsSpan().Fill((byte)'x');
        var count = Math.Clamp(FetchBatchBytes / Math.Max(fetchRecordSize, 1), 1, 4096);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var records = Enumerable.Range(0, count).Select(_ => new RecordData(null, value, now)).ToArray();
        FetchBatch = RecordBatchBuilder.BuildToArray(new RecordBatchOptions { PartitionLeaderEpoch = 0 }, records);
        FetchBatchRecords = count;
    }

    public string Host { get; }

    public int Port { get; set; }

    public int DefaultPartitions { get; }

    /// <summary>One valid v2 batch at base offset 0; Fetch copies it and writes the fetch offset as its base.</summary>
    public byte[] FetchBatch { get; }

    public int FetchBatchRecords { get; }

    public IEnumerable<NullTopic> Topics => _topics.Values;

    public NullTopic GetOrAdd(string name, int partitions = 0) =>
        _topics.GetOrAdd(name, static (n, arg) =>
        {
            var topic = new NullTopic(n, Guid.NewGuid(), arg.partitions > 0 ? arg.partitions : arg.state.DefaultPartitions);
            arg.state._byId[topic.Id] = topic;
            return topic;
        }, (state: this, partitions));

    public bool TryAdd(string name, int partitions, out NullTopic topic)
    {
        var added = false;
        topic = _topics.GetOrAdd(name, n =>
        {
            added = true;
            return new NullTopic(n, Guid.NewGuid(), partitions > 0 ? partitions : DefaultPartitions);
        });
        _byId[topic.Id] = topic;
        return added;
    }

    public bool TryGet(string name, out NullTopic topic) => _topics.TryGetValue(name, out topic!);

    public bool TryGet(Guid id, out NullTopic topic) => _byId.TryGetValue(id, out topic!);

    /// <summary>Number of records in back-to-back v2 batches, from their headers only.</summary>
    public static int CountRecords(ReadOnlySpan<byte> batches)
    {
        var records = 0;
        while (batches.Length >= RecordBatchHeader.Size)
        {
            var total = BinaryPrimitives.ReadInt32BigEndian(batches[RecordBatchHeader.BatchLengthPosition..]) + RecordBatchHeader.LogOverhead;
            records += BinaryPrimitives.ReadInt32BigEndian(batches[RecordBatchHeader.RecordCountPosition..]);
            if (total <= RecordBatchHeader.LogOverhead || total > batches.Length)
            {
                break;
            }

            batches = batches[total..];
        }

        return records;
    }
}

/// <summary>A topic of the null broker: its id and the next offset of each partition.</summary>
internal sealed class NullTopic(string name, Guid id, int partitions)
{
    private readonly long[] _nextOffsets = new long[partitions];

    public string Name { get; } = name;

    public Guid Id { get; } = id;

    public int Partitions => _nextOffsets.Length;

    /// <summary>Reserves <paramref name="records"/> offsets and returns the first.</summary>
    public long Reserve(int partition, int records) => Interlocked.Add(ref _nextOffsets[partition], records) - records;

    public long EndOffset(int partition) => Volatile.Read(ref _nextOffsets[partition]);
}
