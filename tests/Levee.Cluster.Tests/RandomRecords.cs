using System.Collections.Immutable;
using Levee.Cluster.Metadata;

namespace Levee.Cluster.Tests;

/// <summary>Builds valid record sequences from seeds: each step looks at the image reached so far.</summary>
internal static class RandomRecords
{
    public static List<MetadataRecord> Build(IEnumerable<int> seeds)
    {
        var image = MetadataImage.Empty;
        var records = new List<MetadataRecord>();
        foreach (var seed in seeds)
        {
            var random = new Random(seed);
            foreach (var record in Next(image, random))
            {
                image = image.Apply(record);
                records.Add(record);
            }
        }

        return records;
    }

    private static IEnumerable<MetadataRecord> Next(MetadataImage image, Random random)
    {
        var brokers = image.Brokers.Values.ToList();
        var partitions = image.TopicsById.Values.SelectMany(t => t.Partitions.Values).ToList();
        var topics = image.TopicsByName.Values.ToList();
        switch (random.Next(9))
        {
            case 0:
                {
                    var id = random.Next(1, 6);
                    var epoch = (image.Brokers.TryGetValue(id, out var old) ? old.Epoch : 0) + 1;
                    yield return new RegisterBrokerRecord(
                        id,
                        NewGuid(random),
                        epoch,
                        [new BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9000 + id)],
                        random.Next(2) == 0 ? null : "rack-" + random.Next(3),
                        Fenced: random.Next(2) == 0);
                    break;
                }

            case 1 when brokers.Count > 0:
                {
                    var broker = brokers[random.Next(brokers.Count)];
                    yield return random.Next(2) == 0
                        ? new FenceBrokerRecord(broker.Id, broker.Epoch)
                        : new UnfenceBrokerRecord(broker.Id, broker.Epoch);
                    break;
                }

            case 2:
                {
                    var name = "topic-" + random.Next(50);
                    if (image.TopicsByName.ContainsKey(name))
                    {
                        break;
                    }

                    var id = NewGuid(random);
                    yield return new TopicRecord(name, id);
                    var count = random.Next(1, 4);
                    for (var p = 0; p < count; p++)
                    {
                        var replicas = Replicas(random);
                        var isr = replicas[..random.Next(1, replicas.Length + 1)];
                        yield return new PartitionRecord(id, p, replicas, isr, isr[0]);
                    }

                    if (random.Next(2) == 0)
                    {
                        yield return new ConfigRecord(ConfigResourceType.Topic, name, "retention.ms", random.Next(1000, 9999).ToString());
                    }

                    break;
                }

            case 3 when partitions.Count > 0:
                {
                    var p = partitions[random.Next(partitions.Count)];
                    var replicas = random.Next(4) == 0 ? Replicas(random) : p.Replicas;
                    var isr = replicas.Where(_ => random.Next(3) != 0).ToImmutableArray();
                    var leader = isr.IsEmpty ? -1 : random.Next(3) == 0 ? PartitionChangeRecord.NoLeaderChange : isr[random.Next(isr.Length)];
                    if (leader == PartitionChangeRecord.NoLeaderChange && p.Leader != -1 && !replicas.Contains(p.Leader))
                    {
                        leader = -1;
                    }

                    yield return new PartitionChangeRecord(p.TopicId, p.PartitionId, isr, leader, replicas == p.Replicas ? null : replicas);
                    break;
                }

            case 4:
                {
                    var broker = random.Next(2) == 0;
                    var resource = broker ? random.Next(1, 4).ToString() : "topic-" + random.Next(50);
                    var name = random.Next(2) == 0 ? "cleanup.policy" : "segment.bytes";
                    yield return new ConfigRecord(
                        broker ? ConfigResourceType.Broker : ConfigResourceType.Topic,
                        resource,
                        name,
                        random.Next(3) == 0 ? null : random.Next(100000).ToString());
                    break;
                }

            case 5 when topics.Count > 0:
                yield return new RemoveTopicRecord(topics[random.Next(topics.Count)].Id);
                break;

            case 6:
                yield return new ProducerIdsRecord(random.Next(1, 4), 1, image.NextProducerId + random.Next(1, 2000));
                break;

            case 7 when brokers.Count > 0:
                {
                    var broker = brokers[random.Next(brokers.Count)];
                    yield return new BrokerRegistrationChangeRecord(
                        broker.Id, broker.Epoch, random.Next(3) switch { 0 => null, 1 => true, _ => false }, random.Next(2) == 0);
                    break;
                }

            case 8 when brokers.Count > 0 && random.Next(3) == 0:
                {
                    var broker = brokers[random.Next(brokers.Count)];
                    yield return new UnregisterBrokerRecord(broker.Id, broker.Epoch);
                    break;
                }

            default:
                break;
        }
    }

    private static ImmutableArray<int> Replicas(Random random) =>
        [.. Enumerable.Range(1, 5).OrderBy(_ => random.Next()).Take(random.Next(1, 4))];

    private static Guid NewGuid(Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        return new Guid(bytes);
    }
}
