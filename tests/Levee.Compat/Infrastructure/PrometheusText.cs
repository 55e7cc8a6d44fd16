using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Levee.Compat.Infrastructure;

/// <summary>One sample of a scrape: a metric name, its labels and its value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>Whether every label given has the value given.</summary>
    public bool Has(params (string Name, string Value)[] labels) =>
        labels.All(l => Labels.TryGetValue(l.Name, out var v) && v == l.Value);
}

/// <summary>
/// A strict parser of Prometheus' text exposition format (version 0.0.4), for tests: every line must be a comment, a
/// HELP or TYPE line, or a sample of a family whose TYPE came before it; names and label names must be valid, label
/// values properly escaped, no series may appear twice, counters must not be negative, and a histogram's buckets must
/// be cumulative, end with le="+Inf" and agree with its _count. Anything else throws <see cref="FormatException"/>.
/// </summary>
public static partial class PrometheusText
{
    /// <summary>Parses a whole scrape into its samples, by family type (counter, gauge, histogram, summary, untyped).</summary>
    /// <exception cref="FormatException">The text breaks the format.</exception>
    public static (IReadOnlyList<PrometheusSample> Samples, IReadOnlyDictionary<string, string> Types) Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        var number = 0;
        foreach (var line in text.Split('\n'))
        {
            number++;
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && parts[1] == "TYPE")
                {
                    Check(IsName(parts[2]), number, $"bad metric name in TYPE: {line}");
                    Check(parts.Length == 4 && parts[3] is "counter" or "gauge" or "histogram" or "summary" or "untyped", number, $"bad TYPE: {line}");
                    Check(types.TryAdd(parts[2], parts[3]), number, $"second TYPE for {parts[2]}");
                }
                else if (parts.Length >= 3 && parts[1] == "HELP")
                {
                    Check(IsName(parts[2]), number, $"bad metric name in HELP: {line}");
                }

                continue;
            }

            var sample = ParseSample(line, number);
            Check(Family(sample.Name, types) is not null, number, $"sample of a family without TYPE: {line}");
            Check(series.Add(sample.Name + "{" + string.Join(',', sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}"), number, $"series repeated: {line}");
            samples.Add(sample);
        }

        CheckCountersAndHistograms(samples, types);
        return (samples, types);
    }

    private static PrometheusSample ParseSample(string line, int number)
    {
        var name = MetricName().Match(line);
        Check(name.Success && name.Index == 0, number, $"no metric name: {line}");
        var position = name.Length;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (position < line.Length && line[position] == '{')
        {
            position++;
            while (true)
            {
                Check(position < line.Length, number, $"unterminated labels: {line}");
                if (line[position] == '}')
                {
                    break;
                }

                var labelName = LabelName().Match(line, position);
                Check(labelName.Success && labelName.Index == position, number, $"bad label name: {line}");
                position += labelName.Length;
                Check(line.Length > position + 1 && line[position] == '=' && line[position + 1] == '"', number, $"label without =\": {line}");
                position += 2;
                var value = new StringBuilder();
                while (true)
                {
                    Check(position < line.Length, number, $"unterminated label value: {line}");
                    var c = line[position++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\')
                    {
                        Check(position < line.Length, number, $"dangling escape: {line}");
                        var escaped = line[position++];
                        value.Append(escaped switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new FormatException($"line {number}: bad escape \\{escaped}: {line}"),
                        });
                    }
                    else
                    {
                        value.Append(c);
                    }
                }

                Check(labels.TryAdd(labelName.Value, value.ToString()), number, $"label repeated: {line}");
                Check(position < line.Length && line[position] is ',' or '}', number, $"bad label separator: {line}");
                if (line[position] == ',')
                {
                    position++;
                }
            }

            position++;
        }

        var rest = line[position..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Check(line.Length > position && line[position] == ' ' && rest.Length is 1 or 2, number, $"bad value part: {line}");
        Check(TryParseValue(rest[0], out var parsed), number, $"bad value '{rest[0]}': {line}");
        Check(rest.Length == 1 || long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _), number, $"bad timestamp: {line}");
        return new PrometheusSample(name.Value, labels, parsed);
    }

    private static bool TryParseValue(string text, out double value)
    {
        switch (text)
        {
            case "+Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }

    /// <summary>The family a sample belongs to: its own name, or a histogram's or summary's name before _bucket, _sum or _count.</summary>
    private static string? Family(string sample, Dictionary<string, string> types)
    {
        if (types.ContainsKey(sample))
        {
            return sample;
        }

        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (sample.EndsWith(suffix, StringComparison.Ordinal) && types.TryGetValue(sample[..^suffix.Length], out var type) && type is "histogram" or "summary")
            {
                return sample[..^suffix.Length];
            }
        }

        return null;
    }

    private static void CheckCountersAndHistograms(List<PrometheusSample> samples, Dictionary<string, string> types)
    {
        foreach (var sample in samples)
        {
            if (types.GetValueOrDefault(sample.Name) == "counter" && !(sample.Value >= 0))
            {
                throw new FormatException($"counter {sample.Name} is {sample.Value}");
            }
        }

        foreach (var histogram in types.Where(t => t.Value == "histogram").Select(t => t.Key))
        {
            var buckets = samples.Where(s => s.Name == histogram + "_bucket");
            foreach (var series in buckets.GroupBy(s => string.Join(',', s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value))))
            {
                var ordered = series.Select(s => (Le: TryParseValue(s.Labels.GetValueOrDefault("le") ?? "", out var le) ? le : throw new FormatException($"{histogram} bucket without le"), s.Value)).OrderBy(b => b.Le).ToList();
                if (!double.IsPositiveInfinity(ordered[^1].Le))
                {
                    throw new FormatException($"{histogram}{{{series.Key}}} has no le=\"+Inf\" bucket");
                }

                for (var i = 1; i < ordered.Count; i++)
                {
                    if (ordered[i].Value < ordered[i - 1].Value)
                    {
                        throw new FormatException($"{histogram}{{{series.Key}}} buckets are not cumulative at le={ordered[i].Le}");
                    }
                }

                var count = samples.SingleOrDefault(s => s.Name == histogram + "_count" && LabelsWithout(s) == series.Key)
                    ?? throw new FormatException($"{histogram}{{{series.Key}}} has no _count");
                if (count.Value != ordered[^1].Value)
                {
                    throw new FormatException($"{histogram}{{{series.Key}}}: _count {count.Value} is not the +Inf bucket {ordered[^1].Value}");
                }
            }
        }

        static string LabelsWithout(PrometheusSample s) =>
            string.Join(',', s.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value));
    }

    private static bool IsName(string text) => MetricName().Match(text) is { Success: true, Index: 0 } m && m.Length == text.Length;

    private static void Check(bool condition, int line, string message)
    {
        if (!condition)
        {
            throw new FormatException($"line {line}: {message}");
        }
    }

    [GeneratedRegex("[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex MetricName();

    [GeneratedRegex("[a-zA-Z_][a-zA-Z0-9_]*")]
    private static partial Regex LabelName();
}
