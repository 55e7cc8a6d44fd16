using System.Globalization;
using System.Net;

namespace Levee.Broker.Admin;

/// <summary>Where the admin HTTP listener binds (<c>admin.listener</c>) and whether requests must carry <c>admin.token</c>.</summary>
/// <param name="Address">The address bound.</param>
/// <param name="Port">The port asked for; 0 picks a free one.</param>
/// <param name="TokenRequired">Whether requests must carry the bearer token (one is set).</param>
public sealed record AdminEndpoint(IPAddress Address, int Port, bool TokenRequired)
{
    /// <summary>The admin endpoint of <paramref name="options"/>, or null when the admin listener is off.</summary>
    /// <exception cref="BrokerConfigurationException">
    /// <c>admin.listener</c> is not host:port, or it is not on loopback and no <c>admin.token</c> is set.
    /// </exception>
    public static AdminEndpoint? Resolve(BrokerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.AdminListener is not { } text)
        {
            return null;
        }

        var colon = text.LastIndexOf(':');
        var host = colon > 0 ? text[..colon].Trim('[', ']') : "";
        if (colon <= 0
            || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port > IPEndPoint.MaxPort)
        {
            throw new BrokerConfigurationException($"Setting 'admin.listener' must be host:port (127.0.0.1:8080; port 0 picks a free one), or empty or off for none, got '{text}'.");
        }

        // As the Kafka listeners: "localhost" is the IPv4 loopback, any other host name every interface.
        var address = IPAddress.TryParse(host, out var ip) ? ip
            : host == "localhost" ? IPAddress.Loopback
            : IPAddress.Any;
        var tokenSet = options.AdminToken is { Value.Length: > 0 };
        if (!IPAddress.IsLoopback(address) && !tokenSet)
        {
            throw new BrokerConfigurationException($"Setting 'admin.listener' ({text}) is not on loopback: set 'admin.token', the bearer token its requests must carry.");
        }

        return new AdminEndpoint(address, port, tokenSet);
    }
}
