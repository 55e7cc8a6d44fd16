using System.Globalization;

namespace Levee.Faults.Infrastructure;

/// <summary>
/// How long a long-running scenario runs: the value of its environment variable when set, else a short
/// length in CI (environment CI=true, where the whole suite must finish in 30 minutes), else the full one.
/// </summary>
public static class RunLength
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static int From(string variable, int inCi, int full) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : InCi ? inCi : full;
}
