using System.Globalization;
using Levee.Broker.Security;
using Levee.Protocol.Messages;

namespace Levee.Broker.Network;

/// <summary>
/// One Kafka listener (Kafka's <c>listeners</c> entry <c>NAME://host:port</c>): where it binds, what it advertises,
/// its security protocol, and whether it is the inter-broker listener. A client listener serves the APIs Kafka's
/// specs list for brokers; the inter-broker listener also serves the controller's (BrokerRegistration,
/// BrokerHeartbeat, AlterPartition, AllocateProducerIds), since every Levee node is broker and controller at once.
/// </summary>
/// <param name="Name">The listener name, upper case (PLAINTEXT, BROKER, ...).</param>
/// <param name="Protocol">Its security protocol (listener.security.protocol.map).</param>
/// <param name="Host">The host it binds to.</param>
/// <param name="Port">The port it binds to; 0 picks a free one.</param>
/// <param name="IsInterBroker">Whether brokers talk to each other here (inter.broker.listener.name).</param>
public sealed record KafkaListener(string Name, SecurityProtocol Protocol, string Host, int Port, bool IsInterBroker)
{
    /// <summary>The host given to others (advertised.listeners), else <see cref="Host"/>.</summary>
    public string? AdvertisedHost { get; init; }

    /// <summary>The port given to others (advertised.listeners), else the bound port.</summary>
    public int? AdvertisedPort { get; init; }

    /// <summary>Whether connections to this listener speak TLS (SSL, SASL_SSL).</summary>
    public bool IsTls => Protocol is SecurityProtocol.Ssl or SecurityProtocol.SaslSsl;

    /// <summary>Whether a connection must authenticate with SASL before anything else (SASL_PLAINTEXT, SASL_SSL).</summary>
    public bool RequiresSasl => Protocol is SecurityProtocol.SaslPlaintext or SecurityProtocol.SaslSsl;

    /// <summary>Whether <paramref name="key"/> is served on this listener, by the "listeners" field of its spec.</summary>
    public bool Serves(ApiKey key)
    {
        var kinds = ApiMessages.Listeners(key);
        return (kinds & ApiListeners.Broker) != 0 || (IsInterBroker && (kinds & ApiListeners.Controller) != 0);
    }

    /// <summary>The listener name brokers of a cluster use among themselves when none is configured.</summary>
    public const string DefaultInterBrokerName = "BROKER";

    /// <summary>
    /// The listeners of a broker from its options: <c>listeners</c> (default <c>PLAINTEXT://host:port</c> from
    /// <c>host</c> and <c>port</c>), <c>listener.security.protocol.map</c>, <c>inter.broker.listener.name</c> and
    /// <c>advertised.listeners</c>. Without <c>inter.broker.listener.name</c>, a listener named BROKER is the
    /// inter-broker one; a cluster of several voters configured without either gets a BROKER listener on the same
    /// host and a free port. A single broker needs none: nothing else talks to it as a broker.
    /// </summary>
    /// <exception cref="BrokerConfigurationException">A listener setting is malformed or inconsistent.</exception>
    public static IReadOnlyList<KafkaListener> Resolve(BrokerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var protocols = ParseProtocolMap(options.ListenerSecurityProtocolMap);
        var declared = ParseEndpoints("listeners", options.Listeners ?? $"PLAINTEXT://{options.Host}:{options.Port.ToString(CultureInfo.InvariantCulture)}");
        var interBroker = options.InterBrokerListenerName?.ToUpperInvariant();
        if (interBroker is null && declared.Any(d => d.Name == DefaultInterBrokerName))
        {
            interBroker = DefaultInterBrokerName;
        }
        else if (interBroker is null && options.Listeners is null && options.HasSeveralVoters)
        {
            declared.Add((DefaultInterBrokerName, options.Host, 0));
            interBroker = DefaultInterBrokerName;
        }

        if (interBroker is not null && declared.All(d => d.Name != interBroker))
        {
            throw new BrokerConfigurationException($"inter.broker.listener.name '{interBroker}' is not one of the listeners ({string.Join(',', declared.Select(d => d.Name))}).");
        }

        if (interBroker is null && options.HasSeveralVoters)
        {
            throw new BrokerConfigurationException($"A cluster of several voters needs an inter-broker listener: add a BROKER listener to listeners or set inter.broker.listener.name.");
        }

        var advertised = ParseEndpoints("advertised.listeners", options.AdvertisedListeners ?? "").ToDictionary(a => a.Name, StringComparer.Ordinal);
        foreach (var (name, _, port) in advertised.Values)
        {
            if (declared.All(d => d.Name != name))
            {
                throw new BrokerConfigurationException($"advertised.listeners names listener '{name}', which is not one of the listeners.");
            }

            if (port == 0)
            {
                throw new BrokerConfigurationException($"advertised.listeners gives listener '{name}' port 0: an advertised port must be the one others connect to.");
            }
        }

        var listeners = new List<KafkaListener>();
        foreach (var (name, host, port) in declared)
        {
            if (!protocols.TryGetValue(name, out var protocol))
            {
                throw new BrokerConfigurationException($"Listener '{name}' has no security protocol: add {name}:PLAINTEXT (or another protocol) to listener.security.protocol.map.");
            }

            if (name == interBroker && (protocol is SecurityProtocol.SaslPlaintext or SecurityProtocol.SaslSsl))
            {
                throw new BrokerConfigurationException($"The inter-broker listener '{name}' uses {ProtocolName(protocol)}: brokers do not authenticate to each other with SASL yet; give it SSL (with client certificates) or PLAINTEXT on a network only brokers reach.");
            }

            var hasAdvertised = advertised.TryGetValue(name, out var a);
            var listener = new KafkaListener(name, protocol, host, port, name == interBroker)
            {
                AdvertisedHost = hasAdvertised ? a.Host : null,
                AdvertisedPort = hasAdvertised ? a.Port : null,
            };
            if (listener.IsTls && options.SslKeystoreLocation is null)
            {
                throw new BrokerConfigurationException($"Listener '{name}' uses {ProtocolName(protocol)}: set ssl.keystore.location to a PEM file holding the broker's private key and certificate chain.");
            }

            listeners.Add(listener);
        }

        return listeners;
    }

    private static List<(string Name, string Host, int Port)> ParseEndpoints(string key, string value)
    {
        var endpoints = new List<(string Name, string Host, int Port)>();
        foreach (var entry in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var scheme = entry.IndexOf("://", StringComparison.Ordinal);
            var colon = entry.LastIndexOf(':');
            if (scheme <= 0 || colon <= scheme + 2
                || !int.TryParse(entry.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > ushort.MaxValue)
            {
                throw new BrokerConfigurationException($"{key}: '{entry}' is not NAME://host:port.");
            }

            var name = entry[..scheme].ToUpperInvariant();
            var host = entry[(scheme + 3)..colon].Trim('[', ']');
            if (host.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                throw new BrokerConfigurationException($"{key}: '{entry}' is not NAME://host:port.");
            }

            if (endpoints.Any(e => e.Name == name))
            {
                throw new BrokerConfigurationException($"{key} names listener '{name}' twice.");
            }

            endpoints.Add((name, host, port));
        }

        if (key == "listeners" && endpoints.Count == 0)
        {
            throw new BrokerConfigurationException("listeners is empty.");
        }

        return endpoints;
    }

    private static Dictionary<string, SecurityProtocol> ParseProtocolMap(string? value)
    {
        // Kafka's default map, and BROKER, the inter-broker listener Levee adds for a cluster.
        var map = new Dictionary<string, SecurityProtocol>(StringComparer.Ordinal)
        {
            ["PLAINTEXT"] = SecurityProtocol.Plaintext,
            ["SSL"] = SecurityProtocol.Ssl,
            ["SASL_PLAINTEXT"] = SecurityProtocol.SaslPlaintext,
            ["SASL_SSL"] = SecurityProtocol.SaslSsl,
            [DefaultInterBrokerName] = SecurityProtocol.Plaintext,
        };
        if (value is null)
        {
            return map;
        }

        map.Clear();
        foreach (var entry in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            var protocol = colon > 0 ? ParseProtocol(entry[(colon + 1)..]) : null;
            if (protocol is null)
            {
                throw new BrokerConfigurationException($"listener.security.protocol.map: '{entry}' is not NAME:PROTOCOL with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL.");
            }

            map[entry[..colon].ToUpperInvariant()] = protocol.Value;
        }

        return map;
    }

    private static SecurityProtocol? ParseProtocol(string name) => name.ToUpperInvariant() switch
    {
        "PLAINTEXT" => SecurityProtocol.Plaintext,
        "SSL" => SecurityProtocol.Ssl,
        "SASL_PLAINTEXT" => SecurityProtocol.SaslPlaintext,
        "SASL_SSL" => SecurityProtocol.SaslSsl,
        _ => null,
    };

    private static string ProtocolName(SecurityProtocol protocol) => protocol switch
    {
        SecurityProtocol.Ssl => "SSL",
        SecurityProtocol.SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol.SaslSsl => "SASL_SSL",
        _ => "PLAINTEXT",
    };
}
