using System.Globalization;
using System.Text;

namespace Levee.Storage;

/// <summary>
/// Kafka's checkpoint text format: line 1 the version (0), line 2 the entry count, then one entry per line with
/// space-separated fields. Written through <see cref="AtomicFile"/>, so a crash leaves either the old or the new checkpoint.
/// </summary>
internal static class CheckpointFile
{
    public const int Version = 0;

    /// <summary>Writes a checkpoint whose entry lines (each ending in '\n') are <paramref name="entryLines"/>.</summary>
    public static void Write(string path, int count, string entryLines) =>
        AtomicFile.Write(path, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{Version}\n{count}\n{entryLines}")));

    /// <summary>Reads the entries of a two-field checkpoint (leader epochs).</summary>
    public static IEnumerable<(string, string)> ReadPairs(string path)
    {
        foreach (var fields in ReadEntries(path, 2))
        {
            yield return (fields[0], fields[1]);
        }
    }

    /// <summary>Reads and validates a checkpoint; throws <see cref="InvalidDataException"/> when malformed.</summary>
    public static List<string[]> ReadEntries(string path, int fieldCount)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length < 2 || lines[0].Trim() != "0")
        {
            throw new InvalidDataException($"Checkpoint {path}: unsupported or missing version line.");
        }

        if (!int.TryParse(lines[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var count) || lines.Length < 2 + count)
        {
            throw new InvalidDataException($"Checkpoint {path}: bad entry count.");
        }

        var entries = new List<string[]>(count);
        for (var i = 0; i < count; i++)
        {
            var fields = lines[2 + i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != fieldCount)
            {
                throw new InvalidDataException($"Checkpoint {path}: malformed line '{lines[2 + i]}'.");
            }

            entries.Add(fields);
        }

        return entries;
    }

    /// <summary>Reads a "topic partition offset" checkpoint (recovery points, log start offsets); empty when missing.</summary>
    public static Dictionary<TopicPartition, long> ReadOffsets(string path)
    {
        var result = new Dictionary<TopicPartition, long>();
        if (!File.Exists(path))
        {
            return result;
        }

        foreach (var f in ReadEntries(path, 3))
        {
            result[new TopicPartition(f[0], int.Parse(f[1], CultureInfo.InvariantCulture))] = long.Parse(f[2], CultureInfo.InvariantCulture);
        }

        return result;
    }

    /// <summary>Writes a "topic partition offset" checkpoint.</summary>
    public static void WriteOffsets(string path, IReadOnlyCollection<KeyValuePair<TopicPartition, long>> offsets)
    {
        var text = new StringBuilder();
        foreach (var (tp, offset) in offsets)
        {
            text.Append(CultureInfo.InvariantCulture, $"{tp.Topic} {tp.Partition} {offset}\n");
        }

        Write(path, offsets.Count, text.ToString());
    }
}
