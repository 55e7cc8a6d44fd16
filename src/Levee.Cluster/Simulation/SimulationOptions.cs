namespace Levee.Cluster.Simulation;

/// <summary>What a fleet simulation models (<c>levee simulate</c>, docs/simulation.md).</summary>
/// <param name="Brokers">Brokers in the fleet, ids 1 to N.</param>
/// <param name="Racks">Racks, each a contiguous block of broker ids (ids handed out rack by rack).</param>
/// <param name="Tenants">Tenants that ask for a topic over the first day.</param>
/// <param name="Partitions">Partitions all of them ask for together.</param>
/// <param name="Days">Days simulated: tenants arrive during the first, failures are injected over the rest.</param>
/// <param name="Seed">The seed every random draw derives from: the same seed gives the same report.</param>
/// <param name="Failures">Failures injected per policy, spread evenly over the five kinds.</param>
/// <param name="HeadroomMargin">headroom.margin of the guarded policies.</param>
public sealed record SimulationOptions(
    int Brokers = 1000,
    int Racks = 10,
    int Tenants = 20_000,
    int Partitions = 1_000_000,
    int Days = 7,
    int Seed = 1,
    int Failures = 100,
    double HeadroomMargin = 0.2)
{
    /// <summary>Refuses options no fleet can be made of.</summary>
    /// <exception cref="ArgumentException">A count out of range.</exception>
    public void Validate()
    {
        if (Brokers < 4 || Racks < 1 || Racks > Brokers || Tenants < 1 || Partitions < Tenants || Days < 2 || Failures < 1 || HeadroomMargin is < 0 or >= 1)
        {
            throw new ArgumentException("A simulation needs at least 4 brokers, 1 to N racks, at least one partition per tenant, 2 or more days, a failure and a margin in [0, 1).");
        }
    }
}

/// <summary>How a policy places partitions.</summary>
public enum PlacementPolicy
{
    /// <summary>Kafka's default: round-robin stripes from a random start (<see cref="Controller.StripedPlacement"/>), rack-unaware.</summary>
    KafkaStriped,

    /// <summary>Levee's state-aware, rack-aware placement (<see cref="Controller.PlacementState"/>).</summary>
    Levee,
}

/// <summary>One policy the fleet is run under.</summary>
/// <param name="Name">Its name in reports.</param>
/// <param name="Placement">How partitions are placed.</param>
/// <param name="Guard">Whether the headroom guard decides each topic.</param>
/// <param name="Healing">Whether a broker down past the healing delay has its replicas re-created (Kafka has no such thing).</param>
/// <param name="Throttled">Whether healing's copies are throttled to <c>leader.replication.throttled.rate</c>.</param>
public sealed record SimulationPolicy(string Name, PlacementPolicy Placement, bool Guard, bool Healing, bool Throttled)
{
    /// <summary>The policies compared, on the same tenants, failures and seeds.</summary>
    public static IReadOnlyList<SimulationPolicy> All { get; } =
    [
        new("kafka-striped", PlacementPolicy.KafkaStriped, Guard: false, Healing: false, Throttled: false),
        new("levee-placement", PlacementPolicy.Levee, Guard: false, Healing: true, Throttled: true),
        new("levee-guard", PlacementPolicy.Levee, Guard: true, Healing: true, Throttled: true),
        new("levee-guard-unthrottled", PlacementPolicy.Levee, Guard: true, Healing: true, Throttled: false),
    ];
}
