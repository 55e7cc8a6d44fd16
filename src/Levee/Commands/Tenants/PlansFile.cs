using System.Globalization;
using System.Text.Json;
using Levee.Commands.Clusters;

namespace Levee.Commands.Tenants;

/// <summary>A plan as `levee plans apply` sends it: its name and the settings it sets, in the file's order.</summary>
internal sealed record PlanSpec(string Name, IReadOnlyList<KeyValuePair<string, long>> Settings);

/// <summary>
/// The settings of a plan (the broker's keys; a value is a positive integer, sent as decimal text) and the file
/// `levee plans apply` reads: <c>{"plans": {"NAME": {"producer_byte_rate": 65536, ...}, ...}}</c>. The whole file is
/// checked before anything is sent, so a mistake changes no plan.
/// </summary>
internal static class PlansFile
{
    /// <summary>The keys a plan may set.</summary>
    public static IReadOnlyList<string> Keys { get; } =
    [
        "producer_byte_rate",
        "consumer_byte_rate",
        "storage_bytes",
        "partitions",
        "connections",
        "connection_creation_rate",
        "request_percentage",
        "controller_mutation_rate",
    ];

    /// <summary>Returns <paramref name="key"/> when a plan may set it.</summary>
    /// <exception cref="ClusterCommandException">It is not a plan key; the message lists those that are.</exception>
    public static string CheckKey(string key) => IsKey(key) ? key : throw new ClusterCommandException(UnknownKey(key));

    /// <summary>The value of a `--config key=value`: a positive integer in decimal digits.</summary>
    /// <exception cref="ClusterCommandException">It is not.</exception>
    public static long ParseValue(string key, string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : throw new ClusterCommandException($"{key} must be a positive integer, not '{text}'.");

    /// <summary>Reads a plans file's text.</summary>
    /// <param name="json">The file's text.</param>
    /// <param name="source">The file's name, which every message starts with.</param>
    /// <exception cref="ClusterCommandException">The text does not parse, or names a bad plan, key or value; the message says which.</exception>
    public static IReadOnlyList<PlanSpec> Parse(string json, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            // The message ends with the position, counted from 0 ("... LineNumber: 1 | BytePositionInLine: 1."): say it once, from 1.
            var reason = e.Message.Split(" LineNumber:")[0];
            throw new ClusterCommandException($"{source} does not parse as JSON at line {e.LineNumber + 1}, position {e.BytePositionInLine + 1}: {reason}");
        }

        using (document)
        {
            return Read(document.RootElement, source);
        }
    }

    private static List<PlanSpec> Read(JsonElement root, string source)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Problem(source, "must be an object: {\"plans\": {\"NAME\": {\"key\": number, ...}, ...}}.");
        }

        JsonElement? plans = null;
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name != "plans")
            {
                throw Problem(source, $"unknown key '{property.Name}' at the top level (only \"plans\").");
            }

            plans = plans is null ? property.Value : throw Problem(source, "has \"plans\" twice.");
        }

        if (plans is not { ValueKind: JsonValueKind.Object } found)
        {
            throw Problem(source, "needs a \"plans\" object: {\"plans\": {\"NAME\": {\"key\": number, ...}, ...}}.");
        }

        var specs = new List<PlanSpec>();
        foreach (var plan in found.EnumerateObject())
        {
            if (!TenantNames.IsValid(plan.Name))
            {
                throw Problem(source, $"'{plan.Name}' is not a valid plan name ({TenantNames.Rule}).");
            }

            if (specs.Any(s => s.Name == plan.Name))
            {
                throw Problem(source, $"plan '{plan.Name}' is there twice.");
            }

            specs.Add(new PlanSpec(plan.Name, Settings(plan, source)));
        }

        return specs.Count > 0 ? specs : throw Problem(source, "names no plan.");
    }

    private static List<KeyValuePair<string, long>> Settings(JsonProperty plan, string source)
    {
        if (plan.Value.ValueKind != JsonValueKind.Object)
        {
            throw Problem(source, $"plan '{plan.Name}' must be an object of settings, not {plan.Value.ValueKind.ToString().ToLowerInvariant()}.");
        }

        var settings = new List<KeyValuePair<string, long>>();
        foreach (var setting in plan.Value.EnumerateObject())
        {
            var key = setting.Name;
            if (!IsKey(key))
            {
                throw Problem(source, $"plan '{plan.Name}': {UnknownKey(key)}");
            }

            if (settings.Any(s => s.Key == key))
            {
                throw Problem(source, $"plan '{plan.Name}' sets {key} twice.");
            }

            // TryGetInt64 refuses fractions and exponents (1.0, 1e3): a setting is a whole number as written.
            if (setting.Value.ValueKind != JsonValueKind.Number || !setting.Value.TryGetInt64(out var value) || value <= 0)
            {
                throw Problem(source, $"plan '{plan.Name}': {key} must be a positive integer, not {setting.Value.GetRawText()}.");
            }

            settings.Add(KeyValuePair.Create(key, value));
        }

        return settings.Count > 0 ? settings : throw Problem(source, $"plan '{plan.Name}' sets nothing.");
    }

    private static bool IsKey(string key) => Keys.Contains(key, StringComparer.Ordinal);

    private static string UnknownKey(string key) => $"'{key}' is not a plan key (a plan sets {string.Join(", ", Keys)}).";

    private static ClusterCommandException Problem(string source, string problem) => new($"{source}: {problem}");
}
