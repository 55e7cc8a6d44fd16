using System.Collections.Immutable;
using System.Text.Json;

namespace Levee.Broker.Topics;

/// <summary>A topic as the broker knows it: identity, partition count and config overrides.</summary>
public sealed record TopicInfo(string Name, Guid TopicId, int PartitionCount, ImmutableSortedDictionary<string, string> Configs);

/// <summary>
/// The broker's topic metadata, persisted as one JSON file in the data directory and replaced
/// atomically (write, fsync, rename) on each change. Readers see an immutable snapshot swapped on
/// each change, so they never take a lock. In a cluster this role moves to the replicated metadata log.
/// </summary>
public sealed class TopicStore
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };
    private readonly string _path;
    private readonly Lock _writeLock = new();
    private volatile Snapshot _snapshot;

    private sealed record Snapshot(ImmutableDictionary<string, TopicInfo> ByName, ImmutableDictionary<Guid, TopicInfo> ById);

    private sealed record StoredTopic(string Name, Guid TopicId, int PartitionCount, Dictionary<string, string> Configs);

    /// <summary>Loads the store from <paramref name="path"/>, or starts empty.</summary>
    public TopicStore(string path)
    {
        _path = path;
        var topics = new List<TopicInfo>();
        if (File.Exists(path))
        {
            var stored = JsonSerializer.Deserialize<List<StoredTopic>>(File.ReadAllText(path), JsonOptions) ?? [];
            topics.AddRange(stored.Select(s => new TopicInfo(s.Name, s.TopicId, s.PartitionCount, s.Configs.ToImmutableSortedDictionary(StringComparer.Ordinal))));
        }

        _snapshot = MakeSnapshot(topics);
    }

    /// <summary>All topics.</summary>
    public IEnumerable<TopicInfo> All => _snapshot.ByName.Values;

    /// <summary>Finds a topic by name.</summary>
    public bool TryGet(string name, out TopicInfo topic) => _snapshot.ByName.TryGetValue(name, out topic!);

    /// <summary>Finds a topic by id.</summary>
    public bool TryGet(Guid topicId, out TopicInfo topic) => _snapshot.ById.TryGetValue(topicId, out topic!);

    /// <summary>Adds a topic; returns false when the name is taken.</summary>
    public bool TryAdd(TopicInfo topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        lock (_writeLock)
        {
            if (_snapshot.ByName.ContainsKey(topic.Name))
            {
                return false;
            }

            Commit([.. _snapshot.ByName.Values, topic]);
            return true;
        }
    }

    /// <summary>Replaces a topic's record (partition count or configs changed).</summary>
    public void Update(TopicInfo topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        lock (_writeLock)
        {
            Commit([.. _snapshot.ByName.Values.Where(t => t.Name != topic.Name), topic]);
        }
    }

    /// <summary>Removes a topic; returns false when it did not exist.</summary>
    public bool Remove(string name)
    {
        lock (_writeLock)
        {
            if (!_snapshot.ByName.ContainsKey(name))
            {
                return false;
            }

            Commit([.. _snapshot.ByName.Values.Where(t => t.Name != name)]);
            return true;
        }
    }

    private void Commit(List<TopicInfo> topics)
    {
        var stored = topics.OrderBy(t => t.Name, StringComparer.Ordinal)
            .Select(t => new StoredTopic(t.Name, t.TopicId, t.PartitionCount, new Dictionary<string, string>(t.Configs)))
            .ToList();
        var tmp = _path + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, stored, JsonOptions);
            stream.Flush(flushToDisk: true);
        }

        File.Move(tmp, _path, overwrite: true);
        _snapshot = MakeSnapshot(topics);
    }

    private static Snapshot MakeSnapshot(List<TopicInfo> topics) => new(
        topics.ToImmutableDictionary(t => t.Name, StringComparer.Ordinal),
        topics.ToImmutableDictionary(t => t.TopicId));
}
