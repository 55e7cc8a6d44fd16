using System.Buffers;
using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Levee.Cluster.Controller;

namespace Levee.Cluster.Simulation;

/// <summary>What one kind of failure did under one policy.</summary>
/// <param name="Kind">The kind.</param>
/// <param name="Failures">How many were injected.</param>
/// <param name="CascadeProbability">The share after which overload took down at least one more broker.</param>
/// <param name="MeanBrokersLost">Brokers down, injected and overloaded, on average.</param>
/// <param name="PartitionHoursUnavailable">Partition-hours without a live in-sync replica, all of them together.</param>
public sealed record KindResult(FailureKind Kind, int Failures, double CascadeProbability, double MeanBrokersLost, double PartitionHoursUnavailable);

/// <summary>One policy's fleet and what the injected failures did to it.</summary>
/// <param name="Policy">The policy.</param>
/// <param name="Fleet">The fleet it built over the first day.</param>
/// <param name="Results">Each injected failure's result, in the order they were drawn.</param>
/// <param name="ByKind">The results by kind of failure.</param>
public sealed record PolicyResult(SimulationPolicy Policy, Fleet Fleet, ImmutableArray<ScenarioResult> Results, ImmutableArray<KindResult> ByKind)
{
    /// <summary>The share of failures after which overload took down at least one more broker.</summary>
    public double CascadeProbability => Results.Count(r => r.OverloadFailures > 0) / (double)Results.Length;

    /// <summary>Brokers down per failure (blast radius), on average.</summary>
    public double MeanBrokersLost => Results.Average(r => r.BrokersLost);

    /// <summary>The most brokers one failure took down.</summary>
    public int MaxBrokersLost => Results.Max(r => r.BrokersLost);

    /// <summary>Partition-hours without a live in-sync replica over all the failures.</summary>
    public double PartitionHoursUnavailable => Results.Sum(r => r.PartitionHoursUnavailable);

    /// <summary>How full the fleet was sold: the busiest resource's reserved load for its fleet-wide limit.</summary>
    public double Utilisation => Fleet.Utilisation.Max();

    /// <summary>Each resource's highest load on any live broker for its limit, over all failures.</summary>
    public ImmutableArray<double> PeakSurvivorLoad => [.. BrokerCapacity.Resources.Select(r => Results.Max(s => s.PeakFill[(int)r]))];
}

/// <summary>
/// <c>levee simulate</c>: a fleet built by each policy from the same tenants, then the same failures injected into each,
/// played out in virtual time with the controller's own classes (docs/simulation.md). Deterministic: the same options
/// give the same report.
/// </summary>
public static class FleetSimulator
{
    /// <summary>Runs every policy of <see cref="SimulationPolicy.All"/> on the fleet of <paramref name="options"/>.</summary>
    public static SimulationReport Run(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var workload = Workload.Create(options);
        var scenarios = FailureScenario.Draw(workload, options.Failures);
        var demand = new Demand(options.Days, options.Seed);
        var kinds = SimulationPolicy.All.Select(p => (p.Placement, p.Guard)).Distinct().ToList();
        var fleets = new Fleet[kinds.Count];
        Parallel.For(0, kinds.Count, k => fleets[k] = Fleet.Build(workload, kinds[k].Placement, kinds[k].Guard, options.HeadroomMargin, options.Seed));
        var policies = ImmutableArray.CreateBuilder<PolicyResult>();
        foreach (var policy in SimulationPolicy.All)
        {
            var fleet = fleets[kinds.IndexOf((policy.Placement, policy.Guard))];
            var results = new ScenarioResult[scenarios.Count];
            Parallel.For(0, scenarios.Count, s => results[s] = new ScenarioRun(fleet, policy, scenarios[s], demand, options.HeadroomMargin).Run());
            var byKind = Enum.GetValues<FailureKind>().Select(kind =>
            {
                var of = results.Where((_, s) => scenarios[s].Kind == kind).ToList();
                return of.Count == 0
                    ? new KindResult(kind, 0, 0, 0, 0)
                    : new KindResult(kind, of.Count, of.Count(r => r.OverloadFailures > 0) / (double)of.Count, of.Average(r => r.BrokersLost), of.Sum(r => r.PartitionHoursUnavailable));
            }).ToImmutableArray();
            policies.Add(new PolicyResult(policy, fleet, [.. results], byKind));
        }

        return new SimulationReport(options, workload.Limits, policies.ToImmutable());
    }
}

/// <summary>The outcome of a simulation, per policy.</summary>
/// <param name="Options">What was simulated.</param>
/// <param name="Limits">Every broker's limits.</param>
/// <param name="Policies">Each policy's result, in the order of <see cref="SimulationPolicy.All"/>.</param>
public sealed record SimulationReport(SimulationOptions Options, BrokerCapacity Limits, ImmutableArray<PolicyResult> Policies)
{
    /// <summary>
    /// The report as indented JSON: the options, the limits and <c>policies</c>, one object per policy; with
    /// <paramref name="elapsedSeconds"/> and <paramref name="peakMemoryBytes"/> when given (they vary between runs; the
    /// rest is the same for the same options).
    /// </summary>
    public string ToJson(double? elapsedSeconds = null, long? peakMemoryBytes = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("brokers", Options.Brokers);
            json.WriteNumber("racks", Options.Racks);
            json.WriteNumber("tenants", Options.Tenants);
            json.WriteNumber("partitions", Options.Partitions);
            json.WriteNumber("days", Options.Days);
            json.WriteNumber("seed", Options.Seed);
            json.WriteNumber("failures_per_policy", Options.Failures);
            json.WriteNumber("headroom_margin", Options.HeadroomMargin);
            json.WriteStartObject("broker_limits");
            foreach (var resource in BrokerCapacity.Resources)
            {
                json.WriteNumber(BrokerCapacity.Name(resource), Limits[resource]);
            }

            json.WriteEndObject();
            json.WriteStartArray("policies");
            foreach (var policy in Policies)
            {
                WritePolicy(json, policy);
            }

            json.WriteEndArray();
            if (elapsedSeconds is { } elapsed)
            {
                json.WriteNumber("elapsed_s", Math.Round(elapsed, 2));
            }

            if (peakMemoryBytes is { } memory)
            {
                json.WriteNumber("peak_memory_bytes", memory);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WritePolicy(Utf8JsonWriter json, PolicyResult policy)
    {
        var fleet = policy.Fleet;
        json.WriteStartObject();
        json.WriteString("name", policy.Policy.Name);
        json.WriteString("placement", policy.Policy.Placement == PlacementPolicy.Levee ? "levee" : "kafka-striped");
        json.WriteBoolean("guard", policy.Policy.Guard);
        json.WriteString("healing", !policy.Policy.Healing ? "none" : policy.Policy.Throttled ? "throttled" : "unthrottled");
        json.WriteNumber("cascade_probability", Round(policy.CascadeProbability));
        json.WriteNumber("mean_brokers_lost", Round(policy.MeanBrokersLost));
        json.WriteNumber("max_brokers_lost", policy.MaxBrokersLost);
        json.WriteNumber("partition_hours_unavailable", Round(policy.PartitionHoursUnavailable));
        json.WriteNumber("utilisation", Round(policy.Utilisation));
        json.WriteStartObject("utilisation_by_resource");
        WriteResources(json, fleet.Utilisation);
        json.WriteEndObject();
        json.WriteStartObject("peak_survivor_load");
        WriteResources(json, policy.PeakSurvivorLoad);
        json.WriteEndObject();
        json.WriteNumber("tenants_admitted", fleet.Accepted);
        json.WriteNumber("partitions_placed", fleet.PartitionCount);
        if (fleet.FirstRefusalFill is { } fill)
        {
            json.WriteNumber("first_refusal_utilisation", Round(fill));
            json.WriteString("first_refusal", fleet.FirstRefusal);
        }

        json.WriteStartArray("by_failure");
        foreach (var kind in policy.ByKind)
        {
            json.WriteStartObject();
            json.WriteString("kind", Name(kind.Kind));
            json.WriteNumber("failures", kind.Failures);
            json.WriteNumber("cascade_probability", Round(kind.CascadeProbability));
            json.WriteNumber("mean_brokers_lost", Round(kind.MeanBrokersLost));
            json.WriteNumber("partition_hours_unavailable", Round(kind.PartitionHoursUnavailable));
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("sold");
        foreach (var point in fleet.Sold)
        {
            json.WriteStartArray();
            json.WriteNumberValue(Round(point.Hours));
            json.WriteNumberValue(Round(point.Requested));
            json.WriteNumberValue(Round(point.Sold));
            json.WriteEndArray();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>The comparison as a Markdown table, one row per policy (docs/simulation.md shows it).</summary>
    public string ToMarkdown()
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine("| policy | cascade probability | brokers lost, mean / max | partition-hours unavailable | peak survivor load: partitions / disk / in / out / connections | utilisation sold | sold when the guard first refused | tenants admitted |");
        text.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var p in Policies)
        {
            var peaks = string.Join(" / ", p.PeakSurvivorLoad.Select(v => v.ToString("0.00", c)));
            var refused = p.Fleet.FirstRefusalFill is { } fill ? fill.ToString("0.00", c) : "never refused";
            text.AppendLine(string.Create(c, $"| {p.Policy.Name} | {p.CascadeProbability:0.00} | {p.MeanBrokersLost:0.0} / {p.MaxBrokersLost} | {p.PartitionHoursUnavailable:0} | {peaks} | {p.Utilisation:0.00} | {refused} | {p.Fleet.Accepted} of {Options.Tenants} |"));
        }

        return text.ToString();
    }

    /// <summary>The name of <paramref name="kind"/> in reports: <c>broker</c>, <c>rack</c>, <c>pair</c>, <c>slow</c>, <c>rolling_restart</c>.</summary>
    public static string Name(FailureKind kind) => kind switch
    {
        FailureKind.Broker => "broker",
        FailureKind.Rack => "rack",
        FailureKind.Pair => "pair",
        FailureKind.Slow => "slow",
        _ => "rolling_restart",
    };

    private static void WriteResources(Utf8JsonWriter json, ImmutableArray<double> values)
    {
        foreach (var resource in BrokerCapacity.Resources)
        {
            json.WriteNumber(BrokerCapacity.Name(resource), Round(values[(int)resource]));
        }
    }

    private static double Round(double value) => Math.Round(value, 4);
}
