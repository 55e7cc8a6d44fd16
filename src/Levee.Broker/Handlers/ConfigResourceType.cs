namespace Levee.Broker.Handlers;

/// <summary>Kafka's config resource types (DescribeConfigs, AlterConfigs).</summary>
internal enum ConfigResourceType : sbyte
{
    Topic = 2,
    Broker = 4,
    BrokerLogger = 8,
}
