using Levee.Cluster.Metadata;

namespace Levee.Cluster.Tests.Controller;

/// <summary>Metadata images for the controller's pure decisions.</summary>
internal static class TestImages
{
    /// <summary>An image of <paramref name="brokers"/> registered and unfenced brokers, ids 1 to N.</summary>
    public static MetadataImage Cluster(int brokers)
    {
        var image = MetadataImage.Empty;
        for (var id = 1; id <= brokers; id++)
        {
            image = image.Apply(new RegisterBrokerRecord(id, Guid.NewGuid(), id * 10, [new BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9000 + id)]));
            image = image.Apply(new UnfenceBrokerRecord(id, id * 10));
        }

        return image;
    }
}
