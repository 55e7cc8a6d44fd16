using System.Collections.Immutable;
using Levee.Cluster.Metadata;
using Levee.Cluster.Quorum;

namespace Levee.Broker.Topics;

/// <summary>A topic as handlers see it: identity, partition count and config overrides.</summary>
public sealed record TopicInfo(string Name, Guid TopicId, int PartitionCount, ImmutableSortedDictionary<string, string> Configs);

/// <summary>
/// The topics of the current metadata image, read without locks: the image is immutable and
/// swapped atomically as the metadata log is applied.
/// </summary>
public sealed class TopicCatalog(MetadataQuorum quorum)
{
    /// <summary>Kafka's internal topics (its Topic.isInternal): clients may not delete them.</summary>
    public static bool IsInternal(string name) => name is "__consumer_offsets" or "__transaction_state";

    /// <summary>All topics.</summary>
    public IEnumerable<TopicInfo> All
    {
        get
        {
            var image = quorum.Current;
            return image.TopicsByName.Values.Select(t => Describe(image, t));
        }
    }

    /// <summary>Finds a topic by name.</summary>
    public bool TryGet(string name, out TopicInfo topic)
    {
        var image = quorum.Current;
        if (image.TopicsByName.TryGetValue(name, out var found))
        {
            topic = Describe(image, found);
            return true;
        }

        topic = null!;
        return false;
    }

    /// <summary>Finds a topic by id.</summary>
    public bool TryGet(Guid topicId, out TopicInfo topic)
    {
        var image = quorum.Current;
        if (image.TopicsById.TryGetValue(topicId, out var found))
        {
            topic = Describe(image, found);
            return true;
        }

        topic = null!;
        return false;
    }

    /// <summary>The topic as handlers see it, from an image.</summary>
    public static TopicInfo Describe(MetadataImage image, TopicImage topic)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(topic);
        return new TopicInfo(topic.Name, topic.Id, topic.Partitions.Count, image.GetConfigs(ConfigResourceType.Topic, topic.Name));
    }
}
