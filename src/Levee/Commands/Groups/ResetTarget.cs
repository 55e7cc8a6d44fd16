using System.Globalization;

namespace Levee.Commands.Groups;

/// <summary>Where `levee groups reset-offsets` moves a group.</summary>
internal enum ResetKind
{
    ToEarliest,
    ToLatest,
    ToOffset,
    ToDatetime,
}

/// <summary>A reset target: one of --to-earliest, --to-latest, --to-offset N, --to-datetime T.</summary>
internal sealed record ResetTarget(ResetKind Kind, long Offset = 0, DateTimeOffset? Datetime = null)
{
    /// <summary>
    /// Builds the target from the options given; exactly one must be set. A datetime is ISO 8601 (as Kafka's tool
    /// takes, e.g. 2024-05-01T12:00:00.000); without a zone it is UTC.
    /// </summary>
    public static ResetTarget Parse(bool earliest, bool latest, long? offset, string? datetime, out string? problem)
    {
        problem = null;
        var count = (earliest ? 1 : 0) + (latest ? 1 : 0) + (offset is null ? 0 : 1) + (datetime is null ? 0 : 1);
        if (count != 1)
        {
            problem = "Give exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime T.";
            return new ResetTarget(ResetKind.ToEarliest);
        }

        if (earliest)
        {
            return new ResetTarget(ResetKind.ToEarliest);
        }

        if (latest)
        {
            return new ResetTarget(ResetKind.ToLatest);
        }

        if (offset is { } n)
        {
            if (n < 0)
            {
                problem = "--to-offset must not be negative.";
            }

            return new ResetTarget(ResetKind.ToOffset, n);
        }

        if (!DateTimeOffset.TryParse(datetime, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            problem = $"--to-datetime '{datetime}' is not an ISO 8601 date and time (e.g. 2024-05-01T12:00:00.000 or 2024-05-01T12:00:00+02:00).";
        }

        return new ResetTarget(ResetKind.ToDatetime, Datetime: at);
    }
}
