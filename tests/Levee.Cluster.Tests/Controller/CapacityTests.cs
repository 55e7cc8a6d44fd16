using System.Collections.Immutable;
using System.Globalization;
using CsCheck;
using Levee.Cluster.Controller;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Xunit.Abstractions;

namespace Levee.Cluster.Tests.Controller;

/// <summary>The capacity model, the headroom guard and failover-aware placement, as pure functions of a metadata image.</summary>
public sealed class CapacityTests(ITestOutputHelper output)
{
    private static readonly BrokerCapacity Roomy = BrokerCapacity.Unbounded;

    [Fact]
    public void AFailedBrokersLeaderships_GoToTheFirstInSyncSurvivor_AndItsReplicas_ToTheLeastLoadedSurvivorWithoutThem()
    {
        var image = Cluster(3);
        image = Topic(image, "t", new[] { new[] { 1, 2 }, new[] { 1, 3 } }, retentionBytes: 1000);
        var model = CapacityModel.Build(image, Roomy);
        Assert.Equal([2.0, 1.0, 1.0], model.Used.Select(u => u[(int)CapacityResource.Partitions]));

        var after = model.After([1]);

        // Broker 2 now leads partition 0 and takes partition 1's lost replica; broker 3 the other way round.
        Assert.Equal([0.0, 2.0, 2.0], after.Select(u => u[(int)CapacityResource.Partitions]));
        Assert.Equal([0.0, 2000.0, 2000.0], after.Select(u => u[(int)CapacityResource.DiskBytes]));
        var worst = model.Worst();
        Assert.Equal(2, worst[1][(int)CapacityResource.Partitions].Value);
        Assert.Equal("broker 1", worst[1][(int)CapacityResource.Partitions].Failure);
    }

    [Fact]
    public void ATenantsPlan_IsReservedOverItsPartitions_BytesInOnEveryReplica_BytesOutAndConnectionsAtTheLeader()
    {
        var image = Cluster(3);
        image = image.Apply(new ConfigRecord(ConfigResourceType.Plan, "p", Plan.ProducerByteRate, "1000"));
        image = image.Apply(new ConfigRecord(ConfigResourceType.Plan, "p", Plan.ConsumerByteRate, "4000"));
        image = image.Apply(new ConfigRecord(ConfigResourceType.Plan, "p", Plan.Connections, "10"));
        image = image.Apply(new ConfigRecord(ConfigResourceType.Tenant, "acme", TenantDirectory.PlanKey, "p"));
        image = Topic(image, "acme.orders", new[] { new[] { 1, 2 }, new[] { 2, 3 } });
        var used = CapacityModel.Build(image, Roomy).Used;

        // Each partition: 500 B/s in on both replicas; at its leader 2000 B/s to consumers + 500 B/s to the follower.
        Assert.Equal([500.0, 1000.0, 500.0], used.Select(u => u[(int)CapacityResource.BytesInPerSec]));
        Assert.Equal([2500.0, 2500.0, 0.0], used.Select(u => u[(int)CapacityResource.BytesOutPerSec]));
        Assert.Equal([5.0, 5.0, 0.0], used.Select(u => u[(int)CapacityResource.Connections]));
    }

    [Fact]
    public void OnFiveBrokers_TopicsAreAcceptedUntilTheGuardRefusesOne_NamingResourceBrokerFailureAndNumbers_AndEverySurvivorStaysInBound()
    {
        var limits = new AdminLimits(BrokerCapacity: Roomy with { Partitions = 20 }, HeadroomMargin: 0.2);
        var image = Cluster(5);
        Decision decision;
        var created = 0;
        while (true)
        {
            decision = ControllerDecisions.CreateTopic(image, $"t{created}", Guid.NewGuid(), 2, 3, null, new Dictionary<string, string>(), new Random(created), limits);
            if (decision.Error != ErrorCode.None)
            {
                break;
            }

            image = image.Apply(decision.Records);
            created++;
        }

        Assert.Equal(ErrorCode.PolicyViolation, decision.Error);
        Assert.Matches(@"^Creating topic 't\d+' would leave the cluster unable to absorb the loss of broker \d: broker \d would then reach \d+ partitions, over 16 \(its limit 20, broker\.capacity\.partitions, less the headroom margin 0\.2\)\.$", decision.Message);

        // 5 x 20 x 0.8 = 80 replicas at most, less the room a failure's re-replication needs.
        Assert.InRange(created * 6, 48, 80);
        var model = CapacityModel.Build(image, limits.Capacity);
        foreach (var failed in model.Brokers)
        {
            var after = model.After([failed]);
            for (var b = 0; b < model.Brokers.Length; b++)
            {
                Assert.True(model.Brokers[b] == failed || after[b][(int)CapacityResource.Partitions] <= 16, $"broker {model.Brokers[b]} after losing {failed}");
            }
        }
    }

    [Fact]
    public void ASingleBroker_IsKeptWithinItsLimits_WithoutAMargin()
    {
        var limits = new AdminLimits(BrokerCapacity: Roomy with { Partitions = 10 });
        var image = Cluster(1);
        var ok = ControllerDecisions.CreateTopic(image, "a", Guid.NewGuid(), 10, 1, null, new Dictionary<string, string>(), new Random(1), limits);
        Assert.Equal(ErrorCode.None, ok.Error);
        var refused = ControllerDecisions.CreateTopic(image.Apply(ok.Records), "b", Guid.NewGuid(), 1, 1, null, new Dictionary<string, string>(), new Random(1), limits);
        Assert.Equal(ErrorCode.PolicyViolation, refused.Error);
        Assert.Equal("Creating topic 'b' would take broker 1 to 11 partitions, over its limit of 10 (broker.capacity.partitions).", refused.Message);
    }

    [Fact]
    public void ABiggerPlan_ThatSurvivorsCouldNotCarry_IsRefused_AndASmallerOneAccepted()
    {
        var limits = new AdminLimits(BrokerCapacity: Roomy with { BytesOutPerSec = 10_000 }, HeadroomMargin: 0.2);
        var image = Cluster(3);
        image = image.Apply(new ConfigRecord(ConfigResourceType.Plan, "small", Plan.ConsumerByteRate, "300"));
        image = image.Apply(new ConfigRecord(ConfigResourceType.Tenant, "acme", TenantDirectory.PlanKey, "small"));
        image = Topic(image, "acme.orders", new[] { new[] { 1, 2, 3 }, new[] { 2, 3, 1 }, new[] { 3, 1, 2 } });

        var bigger = TenantControl.AlterPlan(image, "big", [new ConfigChange(Plan.ConsumerByteRate, 0, "30000")]);
        image = image.Apply(bigger.Records);
        var move = TenantControl.AlterTenant(image, "acme", [new ConfigChange(TenantDirectory.PlanKey, 0, "big")]);
        Assert.Equal(ErrorCode.None, move.Error);
        var guarded = ControllerDecisions.Guarded(image, move.Records, limits, "Changing tenant 'acme'");
        Assert.Equal(ErrorCode.PolicyViolation, guarded.Error);
        Assert.Contains("bytes_out_per_sec", guarded.Message, StringComparison.Ordinal);
        Assert.Contains("broker.capacity.bytes.out.per.sec", guarded.Message, StringComparison.Ordinal);

        var smaller = TenantControl.AlterPlan(image, "big", [new ConfigChange(Plan.ConsumerByteRate, 0, "3000"), new ConfigChange(Plan.ProducerByteRate, 0, "300")]);
        image = image.Apply(smaller.Records);
        Assert.Equal(ErrorCode.None, ControllerDecisions.Guarded(image, TenantControl.AlterTenant(image, "acme", [new ConfigChange(TenantDirectory.PlanKey, 0, "big")]).Records, limits, "Changing tenant 'acme'").Error);
    }

    [Fact]
    public void AClusterAlreadyShortOfHeadroom_StillAcceptsChangesThatAddNothingToTheShortfall()
    {
        var image = Cluster(3);
        image = Topic(image, "full", new[] { new[] { 1, 2 }, new[] { 1, 2 }, new[] { 1, 2 }, new[] { 1, 2 } });
        var limits = new AdminLimits(BrokerCapacity: Roomy with { DiskBytes = 1000 }, HeadroomMargin: 0.2);

        // Broker 1 and 2 already hold more disk than a failure leaves room for; a topic reserving no disk adds nothing.
        image = image.Apply(new ConfigRecord(ConfigResourceType.Topic, "full", "retention.bytes", "300"));
        var decision = ControllerDecisions.CreateTopic(image, "more", Guid.NewGuid(), 1, 1, null, new Dictionary<string, string>(), new Random(1), limits);
        Assert.Equal(ErrorCode.None, decision.Error);
        var worse = ControllerDecisions.CreateTopic(image, "worse", Guid.NewGuid(), 3, 1, null, new Dictionary<string, string> { ["retention.bytes"] = "300" }, new Random(1), limits);
        Assert.Equal(ErrorCode.PolicyViolation, worse.Error);
    }

    [Fact]
    public void RacksAreFailuresToo_AndReplicasGoToRacksThePartitionDoesNotUseYet()
    {
        var image = MetadataImage.Empty;
        for (var id = 1; id <= 6; id++)
        {
            image = image.Apply(new RegisterBrokerRecord(id, Guid.NewGuid(), id, [new BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9000 + id)], Rack: $"r{id % 3}"));
            image = image.Apply(new UnfenceBrokerRecord(id, id));
        }

        var replicas = ReplicaPlacement.Assign(image, [1, 2, 3, 4, 5, 6], 30, 3, new Random(3));
        Assert.All(replicas, r => Assert.Equal(3, r.Select(b => b % 3).Distinct().Count()));
        var model = CapacityModel.Build(image, Roomy);
        Assert.Contains("rack r0", model.Failures);
        Assert.Contains("broker 6", model.Failures);
    }

    [Fact]
    public void Placement_SpreadsAFailedBrokersLeadershipsOverManySurvivors_NoneTakingMoreThanTwoOverNMinusOne()
    {
        Gen.Select(Gen.Int[6, 24], Gen.Int[2, 3], Gen.Int[1, 6], Gen.Int[0, 10_000]).Sample((n, rf, topics, seed) =>
        {
            var image = Cluster(n);
            var random = new Random(seed);
            var perTopic = (n * (n - 1) / topics) + 1;
            for (var t = 0; t < topics; t++)
            {
                image = image.Apply(ControllerDecisions.CreateTopic(image, $"t{t}", Guid.NewGuid(), perTopic, (short)rf, null, new Dictionary<string, string>(), random).Records);
            }

            foreach (var broker in image.Brokers.Keys)
            {
                var takers = image.TopicsById.Values.SelectMany(t => t.Partitions.Values).Where(p => p.Replicas[0] == broker).GroupBy(p => p.Replicas[1]).Select(g => g.Count()).ToList();
                var led = takers.Sum();
                Assert.True(takers.Count >= Math.Min(n - 1, 8), $"broker {broker}'s {led} leaderships go to {takers.Count} survivors");
                Assert.True(takers.Max() <= 2.0 / (n - 1) * led, $"one survivor takes {takers.Max()} of broker {broker}'s {led} leaderships");
            }
        }, iter: 40);
    }

    [Fact]
    public void Placement_WorstLoadAfterAnySingleFailure_IsNeverAboveKafkasStripedPlacement()
    {
        // Each case: a cluster of 3-12 brokers already holding some topics, then one more topic placed by Levee and by
        // Kafka's striped assignment on that same cluster.
        var ratios = new List<double>();
        Gen.Select(Gen.Int[3, 12], Gen.Int[1, 3], Gen.Int[0, 6], Gen.Int[1, 40], Gen.Int[0, 100_000]).Sample((n, rf, existing, maxPartitions, seed) =>
        {
            rf = Math.Min(rf, n);
            var random = new Random(seed);
            var image = Cluster(n).Apply(new ConfigRecord(ConfigResourceType.Tenant, "acme", TenantDirectory.PlanKey, "basic-2"));
            for (var t = 0; t < existing; t++)
            {
                image = image.Apply(ControllerDecisions.CreateTopic(image, $"acme.t{t}", Guid.NewGuid(), random.Next(1, maxPartitions + 1), (short)rf, null, new Dictionary<string, string>(), random).Records);
            }

            var partitions = random.Next(1, maxPartitions + 1);
            var levee = image.Apply(ControllerDecisions.CreateTopic(image, "acme.new", Guid.NewGuid(), partitions, (short)rf, null, new Dictionary<string, string>(), random).Records);
            var kafka = Topic(image, "acme.new", StripedPlacement.Assign([.. image.Brokers.Keys], partitions, rf, 0, random));
            var leveeWorst = WorstFill(levee);
            var kafkaWorst = WorstFill(kafka);
            Assert.True(leveeWorst <= kafkaWorst + 1e-12, $"n={n} rf={rf} existing={existing} new={partitions}: Levee {leveeWorst:F4} > Kafka {kafkaWorst:F4}");
            lock (ratios)
            {
                ratios.Add(leveeWorst / kafkaWorst);
            }
        }, iter: 200);
        output.WriteLine($"worst survivor load after any single failure, Levee / Kafka striped: mean {ratios.Average():F3}, min {ratios.Min():F3}, max {ratios.Max():F3} over {ratios.Count} cases");
    }

    [Fact]
    public void Placement_OfManyTopicsInTurn_LeavesALowerWorstLoadThanKafkasStripes_OnAverage()
    {
        var ratios = new List<double>();
        Gen.Select(Gen.Int[3, 16], Gen.Int[1, 3], Gen.Int[1, 8], Gen.Int[1, 40], Gen.Int[0, 100_000]).Sample((n, rf, topics, maxPartitions, seed) =>
        {
            rf = Math.Min(rf, n);
            var sizes = new Random(seed);
            var plan = Enumerable.Range(0, topics).Select(_ => sizes.Next(1, maxPartitions + 1)).ToList();
            var ratio = WorstFill(Build(n, plan, rf, seed, striped: false)) / WorstFill(Build(n, plan, rf, seed, striped: true));
            lock (ratios)
            {
                ratios.Add(ratio);
            }
        }, iter: 100);
        output.WriteLine($"after 1-8 topics placed in turn, Levee / Kafka striped: mean {ratios.Average():F3}, min {ratios.Min():F3}, max {ratios.Max():F3} over {ratios.Count} clusters");
        Assert.True(ratios.Average() < 1, $"mean ratio {ratios.Average():F3}");
    }

    // A cluster of n brokers with one tenant (uniform rates per partition) whose topics have these partition counts.
    private static MetadataImage Build(int n, List<int> partitions, int rf, int seed, bool striped)
    {
        var image = Cluster(n).Apply(new ConfigRecord(ConfigResourceType.Tenant, "acme", TenantDirectory.PlanKey, "basic-2"));
        var random = new Random(seed);
        for (var t = 0; t < partitions.Count; t++)
        {
            image = striped
                ? Topic(image, $"acme.t{t}", StripedPlacement.Assign([.. image.Brokers.Keys], partitions[t], rf, 0, random))
                : image.Apply(ControllerDecisions.CreateTopic(image, $"acme.t{t}", Guid.NewGuid(), partitions[t], (short)rf, null, new Dictionary<string, string>(), random).Records);
        }

        return image;
    }

    // The most any survivor reaches of any resource after any single failure, for its limit.
    private static double WorstFill(MetadataImage image) => ReplicaPlacement.Score(image, Roomy, 0.2).Max;

    private static MetadataImage Cluster(int brokers) => TestImages.Cluster(brokers);

    private static MetadataImage Topic(MetadataImage image, string name, IReadOnlyList<ImmutableArray<int>> replicas, long retentionBytes = 0)
    {
        var id = Guid.NewGuid();
        var records = new List<MetadataRecord> { new TopicRecord(name, id) };
        records.AddRange(replicas.Select((r, i) => new PartitionRecord(id, i, r, r, r[0])));
        if (retentionBytes > 0)
        {
            records.Add(new ConfigRecord(ConfigResourceType.Topic, name, "retention.bytes", retentionBytes.ToString(CultureInfo.InvariantCulture)));
        }

        return image.Apply(records);
    }

    private static MetadataImage Topic(MetadataImage image, string name, int[][] replicas, long retentionBytes = 0) =>
        Topic(image, name, (IReadOnlyList<ImmutableArray<int>>)[.. replicas.Select(r => r.ToImmutableArray())], retentionBytes);
}
