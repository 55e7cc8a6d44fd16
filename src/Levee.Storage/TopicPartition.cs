using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Levee.Storage;

/// <summary>A topic name and a partition number; its log lives in the directory <c>&lt;topic&gt;-&lt;partition&gt;</c>.</summary>
/// <param name="Topic">The topic name (validated by <see cref="ValidateTopicName"/> where it enters the system).</param>
/// <param name="Partition">The partition number, zero or more.</param>
public readonly record struct TopicPartition(string Topic, int Partition)
{
    /// <summary>Kafka's limit on topic name length (255 minus room for the partition suffix and ".deleted"-style markers).</summary>
    public const int MaxTopicNameLength = 249;

    /// <summary>The partition's directory name inside a log directory, as Kafka names it.</summary>
    public string DirectoryName => string.Create(CultureInfo.InvariantCulture, $"{Topic}-{Partition}");

    /// <inheritdoc />
    public override string ToString() => DirectoryName;

    /// <summary>
    /// Parses a partition directory name such as <c>orders-3</c>. The partition is after the LAST dash, so
    /// topics containing dashes parse. Directories Kafka marks for deletion or moves (<c>-delete</c>,
    /// <c>-future</c>, <c>-stray</c>) are not partitions.
    /// </summary>
    public static bool TryParseDirectoryName(string name, [NotNullWhen(true)] out TopicPartition? topicPartition)
    {
        ArgumentNullException.ThrowIfNull(name);
        topicPartition = null;
        var dash = name.LastIndexOf('-');
        if (dash <= 0 || dash == name.Length - 1)
        {
            return false;
        }

        var topic = name[..dash];
        var number = name.AsSpan(dash + 1);
        foreach (var c in number)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
            || !IsValidTopicName(topic, out _))
        {
            return false;
        }

        topicPartition = new TopicPartition(topic, partition);
        return true;
    }

    /// <summary>Checks a topic name against Kafka's rules: 1..249 characters of [a-zA-Z0-9._-], not "." or "..".</summary>
    public static bool IsValidTopicName(string? topic, [NotNullWhen(false)] out string? error)
    {
        if (string.IsNullOrEmpty(topic))
        {
            error = "Topic name is illegal, it can't be empty.";
            return false;
        }

        if (topic is "." or "..")
        {
            error = "Topic name cannot be \".\" or \"..\".";
            return false;
        }

        if (topic.Length > MaxTopicNameLength)
        {
            error = $"Topic name is illegal, it can't be longer than {MaxTopicNameLength} characters, topic name: {topic}";
            return false;
        }

        foreach (var c in topic)
        {
            var legal = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-';
            if (!legal)
            {
                error = $"Topic name \"{topic}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'";
                return false;
            }
        }

        error = null;
        return true;
    }

    /// <summary>Throws <see cref="ArgumentException"/> with Kafka's message when <paramref name="topic"/> is not a legal name.</summary>
    public static void ValidateTopicName(string? topic)
    {
        if (!IsValidTopicName(topic, out var error))
        {
            throw new ArgumentException(error, nameof(topic));
        }
    }
}
