using System.Globalization;

namespace Levee.Broker.Producers;

/// <summary>
/// Hands out producer ids for InitProducerId. Ids come from blocks of <see cref="BlockSize"/> (Kafka's
/// AllocateProducerIds block size) reserved in <c>producer-id-block</c> in the data directory before any id of the
/// block is handed out, so an id is never given twice, across restarts and crashes alike (a crash only skips the
/// rest of a block). In a cluster the blocks will come from the controller (AllocateProducerIds); this class is
/// the single-broker stand-in.
/// </summary>
/// <remarks>
/// It also remembers the epochs it handed out so that a producer re-initialising with its current id and epoch
/// (InitProducerId v3+, KIP-360) gets the same id with the epoch bumped, and a retry of that request (the previous
/// epoch) gets the same answer again. The memory is bounded (<see cref="MaxRememberedProducers"/>) and not
/// persisted: a producer it does not remember simply gets a new id, which is always safe.
/// </remarks>
public sealed class ProducerIdManager
{
    /// <summary>Ids reserved per write of the block file.</summary>
    public const int BlockSize = 1000;

    /// <summary>The file in the data directory holding the first id not yet reserved.</summary>
    public const string FileName = "producer-id-block";

    /// <summary>Producers whose epochs are remembered for KIP-360 bumps; beyond that the memory is reset.</summary>
    public const int MaxRememberedProducers = 100_000;

    private readonly Lock _lock = new();
    private readonly string _path;
    private readonly Dictionary<long, (short Current, short Previous)> _epochs = [];
    private long _next;
    private long _blockEnd;

    /// <summary>Reads the block file in <paramref name="dataDirectory"/> (absent: ids start at 0).</summary>
    /// <exception cref="InvalidDataException">The file exists but is not readable.</exception>
    public ProducerIdManager(string dataDirectory)
    {
        _path = Path.Combine(dataDirectory, FileName);
        _next = ReadNextBlockStart(_path);
        _blockEnd = _next;
    }

    /// <summary>
    /// A producer id and epoch for a non-transactional producer. With <paramref name="currentProducerId"/> and
    /// <paramref name="currentEpoch"/> naming the id and epoch this manager last gave that producer, the epoch is
    /// bumped (KIP-360); when the epoch would be exhausted, or the producer is unknown, a new id with epoch 0.
    /// </summary>
    public (long ProducerId, short Epoch) InitProducer(long currentProducerId, short currentEpoch)
    {
        lock (_lock)
        {
            if (currentProducerId >= 0 && _epochs.TryGetValue(currentProducerId, out var known))
            {
                if (currentEpoch == known.Current && known.Current < short.MaxValue - 1)
                {
                    var bumped = (short)(known.Current + 1);
                    _epochs[currentProducerId] = (bumped, known.Current);
                    return (currentProducerId, bumped);
                }

                if (currentEpoch == known.Previous && known.Previous >= 0)
                {
                    // A retry of the bump whose answer was lost: the same answer again.
                    return (currentProducerId, known.Current);
                }
            }

            var id = NextIdLocked();
            if (_epochs.Count >= MaxRememberedProducers)
            {
                _epochs.Clear();
            }

            _epochs[id] = (0, -1);
            return (id, 0);
        }
    }

    private long NextIdLocked()
    {
        if (_next >= _blockEnd)
        {
            var end = _blockEnd + BlockSize;
            WriteNextBlockStart(_path, end);
            _blockEnd = end;
        }

        return _next++;
    }

    private static long ReadNextBlockStart(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        foreach (var line in File.ReadAllLines(path))
        {
            const string key = "next.block.start=";
            if (line.StartsWith(key, StringComparison.Ordinal)
                && long.TryParse(line.AsSpan(key.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var next))
            {
                return next;
            }
        }

        throw new InvalidDataException($"{path} has no next.block.start line; refusing to guess, since producer ids must never repeat.");
    }

    /// <summary>Durably records that ids below <paramref name="next"/> are taken: temporary file, fsync, rename.</summary>
    private static void WriteNextBlockStart(string path, long next)
    {
        var tmp = path + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(System.Text.Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"version=1\nnext.block.start={next}\n")));
            stream.Flush(flushToDisk: true);
        }

        File.Move(tmp, path, overwrite: true);
    }
}
