using Microsoft.AspNetCore.Http;

namespace Levee.Broker.Admin;

/// <summary>
/// The dashboard at <c>/</c>: one static page (dashboard.html, embedded in this assembly, no build step) whose script
/// polls the JSON API and <c>/metrics</c>. It holds no data itself, so it is served without the bearer token; its
/// script sends the token given in the address's fragment (<c>#token=...</c>).
/// </summary>
public static class Dashboard
{
    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream("Levee.Broker.Admin.dashboard.html")
            ?? throw new InvalidOperationException("dashboard.html is not embedded in Levee.Broker.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>Answers with the page.</summary>
    public static IResult Serve() => Results.Bytes(Page.Value, "text/html; charset=utf-8");
}
