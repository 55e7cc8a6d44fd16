using System.Globalization;
using System.Text.Json;

namespace Levee.ProtocolGen;

/// <summary>A version range from a spec: "3+", "0-7", "5" or "none".</summary>
internal readonly record struct Versions(short Lowest, short Highest)
{
    public static readonly Versions None = new(0, -1);

    public bool IsEmpty => Highest < Lowest;

    public bool Contains(short version) => version >= Lowest && version <= Highest;

    public bool Covers(Versions other) => other.IsEmpty || (Lowest <= other.Lowest && Highest >= other.Highest);

    public Versions Intersect(Versions other) =>
        new(Math.Max(Lowest, other.Lowest), Math.Min(Highest, other.Highest));

    public static Versions Parse(string? text)
    {
        if (text is null || text == "none")
        {
            return None;
        }

        if (text.EndsWith('+'))
        {
            return new(short.Parse(text[..^1], CultureInfo.InvariantCulture), short.MaxValue);
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0)
        {
            return new(
                short.Parse(text[..dash], CultureInfo.InvariantCulture),
                short.Parse(text[(dash + 1)..], CultureInfo.InvariantCulture));
        }

        var single = short.Parse(text, CultureInfo.InvariantCulture);
        return new(single, single);
    }
}

/// <summary>One field of a message or struct, as declared in the JSON spec.</summary>
internal sealed class FieldSpec
{
    private static readonly HashSet<string> Primitives =
    [
        "int8", "int16", "int32", "int64", "uint16", "uint32", "float64", "bool", "uuid", "string", "bytes", "records",
    ];

    public required string Name { get; init; }

    public required string Type { get; init; }

    public required Versions Versions { get; init; }

    public Versions NullableVersions { get; init; } = Versions.None;

    public Versions TaggedVersions { get; init; } = Versions.None;

    public int? Tag { get; init; }

    /// <summary>A per-field override of the message's flexible versions (RequestHeader.ClientId: "none").</summary>
    public Versions? FlexibleVersions { get; init; }

    public string? Default { get; init; }

    public string? About { get; init; }

    /// <summary>What the field names, where the spec says (entityType: topicName, groupId, transactionalId, brokerId, producerId).</summary>
    public string? EntityType { get; init; }

    /// <summary>Inline struct definition, when the field declares its struct's fields here.</summary>
    public List<FieldSpec>? Fields { get; init; }

    public bool IsArray => Type.StartsWith("[]", StringComparison.Ordinal);

    public string ElementType => IsArray ? Type[2..] : Type;

    public bool IsStruct => !Primitives.Contains(ElementType);

    public bool IsTagged => Tag is not null;

    public bool IsNullable => !NullableVersions.IsEmpty;

    /// <summary>
    /// True for a spec default of null, and for an error message nullable in every version it has: Kafka answers null
    /// there when there is no error (its handlers pass the message of ApiError.NONE, which is null), where the specs'
    /// own default would be an empty string.
    /// </summary>
    public bool DefaultIsNull => Default == "null"
        || (Default is null && Name == "ErrorMessage" && Type == "string" && NullableVersions.Covers(Versions));

    public static FieldSpec Parse(JsonElement json)
    {
        string? Text(string name) =>
            json.TryGetProperty(name, out var value)
                ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
                : null;

        List<FieldSpec>? fields = null;
        if (json.TryGetProperty("fields", out var nested))
        {
            fields = [.. nested.EnumerateArray().Select(Parse)];
        }

        var flexible = Text("flexibleVersions");
        return new FieldSpec
        {
            // A few specs spell field names in camelCase (CreateTopics' timeoutMs, validateOnly): C# properties are PascalCase.
            Name = char.ToUpperInvariant(Text("name")![0]) + Text("name")![1..],
            Type = Text("type")!,
            Versions = Versions.Parse(Text("versions")),
            NullableVersions = Versions.Parse(Text("nullableVersions")),
            TaggedVersions = Versions.Parse(Text("taggedVersions")),
            Tag = Text("tag") is { } tag ? int.Parse(tag, CultureInfo.InvariantCulture) : null,
            FlexibleVersions = flexible is null ? null : Versions.Parse(flexible),
            Default = Text("default"),
            About = Text("about"),
            EntityType = Text("entityType"),
            Fields = fields,
        };
    }
}

/// <summary>A struct to generate: the message itself, an inline struct, or a common struct.</summary>
internal sealed record StructSpec(string Name, string? About, List<FieldSpec> Fields);

/// <summary>One JSON message spec: a request, response, header or data message.</summary>
internal sealed class MessageSpec
{
    public required string Name { get; init; }

    public required string Kind { get; init; }

    public short? ApiKey { get; init; }

    public required Versions ValidVersions { get; init; }

    public required Versions FlexibleVersions { get; init; }

    public bool LatestVersionUnstable { get; init; }

    /// <summary>The kinds of listener a request is served on (Kafka's "listeners": zkBroker, broker, controller).</summary>
    public List<string> Listeners { get; init; } = [];

    public required List<FieldSpec> Fields { get; init; }

    public required List<StructSpec> CommonStructs { get; init; }

    public static MessageSpec Load(string path)
    {
        var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
        using var document = JsonDocument.Parse(File.ReadAllText(path), options);
        var root = document.RootElement;
        var common = new List<StructSpec>();
        if (root.TryGetProperty("commonStructs", out var structs))
        {
            foreach (var item in structs.EnumerateArray())
            {
                common.Add(new StructSpec(
                    item.GetProperty("name").GetString()!,
                    null,
                    [.. item.GetProperty("fields").EnumerateArray().Select(FieldSpec.Parse)]));
            }
        }

        return new MessageSpec
        {
            Name = root.GetProperty("name").GetString()!,
            Kind = root.GetProperty("type").GetString()!,
            ApiKey = root.TryGetProperty("apiKey", out var key) ? key.GetInt16() : null,
            ValidVersions = Versions.Parse(root.GetProperty("validVersions").GetString()),
            FlexibleVersions = Versions.Parse(root.GetProperty("flexibleVersions").GetString()),
            LatestVersionUnstable = root.TryGetProperty("latestVersionUnstable", out var unstable) && unstable.GetBoolean(),
            Listeners = root.TryGetProperty("listeners", out var listeners) ? [.. listeners.EnumerateArray().Select(l => l.GetString()!)] : [],
            Fields = [.. root.GetProperty("fields").EnumerateArray().Select(FieldSpec.Parse)],
            CommonStructs = common,
        };
    }

    /// <summary>Every struct to nest in the message class: inline ones in declaration order, then common ones.</summary>
    public List<StructSpec> NestedStructs()
    {
        var result = new List<StructSpec>();
        void Collect(IEnumerable<FieldSpec> fields)
        {
            foreach (var field in fields)
            {
                if (field.Fields is not null)
                {
                    if (result.Any(s => s.Name == field.ElementType))
                    {
                        throw new InvalidOperationException($"{Name}: struct {field.ElementType} is defined twice.");
                    }

                    result.Add(new StructSpec(field.ElementType, field.About, field.Fields));
                    Collect(field.Fields);
                }
            }
        }

        Collect(Fields);
        foreach (var common in CommonStructs)
        {
            result.Add(common);
            Collect(common.Fields);
        }

        return result;
    }
}
