using System.Globalization;

namespace Levee.Storage;

/// <summary>The process's open-file limit, as Linux reports it in <c>/proc/self/limits</c>.</summary>
internal static class OpenFileLimit
{
    private const long Unknown = 8_192;

    /// <summary>The soft limit on open descriptors; 8,192 when it cannot be read (not Linux), a large value when unlimited.</summary>
    public static long Soft()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    return Parse(line["Max open files".Length..]);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return Unknown;
    }

    /// <summary>Reads the soft limit from the rest of the line: "soft hard units".</summary>
    internal static long Parse(string fields)
    {
        var soft = fields.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        if (soft == "unlimited")
        {
            return int.MaxValue;
        }

        return long.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : Unknown;
    }
}
