using System.Collections.Immutable;
using Levee.Broker.Quotas;
using Levee.Cluster.Metadata;

namespace Levee.Broker.Tests.Quotas;

/// <summary>Which configured quota applies to a (user, client id), in Kafka's order, and which clients share its measurement.</summary>
public sealed class QuotaPrecedenceTests
{
    private static readonly QuotaEntityName Default = QuotaEntityName.Default;

    // Kafka's eight levels, most specific first, each with its own value so the one chosen is visible.
    private static readonly (ClientQuotaEntity Entity, double Value)[] Levels =
    [
        (new(new("alice"), new("app"), null), 1),
        (new(new("alice"), Default, null), 2),
        (new(new("alice"), null, null), 3),
        (new(Default, new("app"), null), 4),
        (new(Default, Default, null), 5),
        (new(Default, null, null), 6),
        (new(null, new("app"), null), 7),
        (new(null, Default, null), 8),
    ];

    [Fact]
    public void TheMostSpecificConfiguredLevelApplies_AtEveryLevel()
    {
        var manager = new ClientQuotaManager("producer_byte_rate", new QuotaSettings(11, 1000), TimeProvider.System);
        for (var skipped = 0; skipped < Levels.Length; skipped++)
        {
            // With the first `skipped` levels removed, the next one decides.
            var quotas = Quotas(Levels.Skip(skipped));
            var applied = manager.Find(quotas, "alice", "app");
            Assert.NotNull(applied);
            Assert.Equal(Levels[skipped].Value, applied.Limit);
            Assert.Equal(Levels[skipped].Entity, applied.Entity);
        }

        Assert.Null(manager.Find(Quotas([]), "alice", "app"));
    }

    [Fact]
    public void AUserQuota_IsSharedByAllItsClientIds_AClientQuotaByAllUsers()
    {
        var manager = new ClientQuotaManager("producer_byte_rate", new QuotaSettings(11, 1000), TimeProvider.System);
        var byUser = Quotas([(new(new("alice"), null, null), 100)]);
        Assert.Equal(manager.Find(byUser, "alice", "one")!.Measured, manager.Find(byUser, "alice", "two")!.Measured);

        var byClient = Quotas([(new(null, new("app"), null), 100)]);
        Assert.Equal(manager.Find(byClient, "alice", "app")!.Measured, manager.Find(byClient, "bob", "app")!.Measured);

        // A default user quota is per user: each user has its own measurement.
        var byDefaultUser = Quotas([(new(Default, null, null), 100)]);
        Assert.NotEqual(manager.Find(byDefaultUser, "alice", "app")!.Measured, manager.Find(byDefaultUser, "bob", "app")!.Measured);

        // Another key's quota does not apply.
        Assert.Null(manager.Find(Quotas([(new(new("alice"), null, null), 100)], key: "consumer_byte_rate"), "alice", "app"));
    }

    private static ImmutableSortedDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>> Quotas(IEnumerable<(ClientQuotaEntity Entity, double Value)> levels, string key = "producer_byte_rate") =>
        levels.ToImmutableSortedDictionary(l => l.Entity, l => ImmutableSortedDictionary.Create<string, double>(StringComparer.Ordinal).Add(key, l.Value));
}
