using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Levee.Commands.Clusters;

namespace Levee.Commands.Tenants;

/// <summary>Where and how a tenant's clients connect: bootstrap servers, SASL_SSL or SASL_PLAINTEXT, the CA file (when given).</summary>
internal sealed record ClientEndpoint(string BootstrapServers, string SecurityProtocol, string? CaLocation);

/// <summary>
/// What a tenant's client needs to connect, printed once by `levee tenants create` and `credentials rotate`: the
/// password is not stored anywhere it can be read back. Not a record: a record's ToString would show the password.
/// </summary>
internal sealed class ClientSettings(ClientEndpoint endpoint, string username, string password)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>The bootstrap servers the client connects to.</summary>
    public string BootstrapServers => endpoint.BootstrapServers;

    /// <summary>SASL_SSL or SASL_PLAINTEXT.</summary>
    public string SecurityProtocol => endpoint.SecurityProtocol;

    /// <summary>Always SCRAM-SHA-512: the mechanism of the credential made for the client.</summary>
    public string SaslMechanism { get; } = "SCRAM-SHA-512";

    /// <summary>The SCRAM user, bound to the tenant.</summary>
    public string Username { get; } = username;

    /// <summary>The password, shown this once.</summary>
    public string Password { get; } = password;

    /// <summary>The CA certificate file the client trusts the broker's certificate with, when given.</summary>
    public string? CaLocation => endpoint.CaLocation;

    /// <summary>
    /// Writes the settings: with <paramref name="json"/> one JSON object (bootstrap_servers, security_protocol,
    /// sasl_mechanism, username, password, ca_location), else <paramref name="heading"/> and librdkafka properties
    /// (a client's config, or a --command-config file) with the warning that the password is shown once.
    /// </summary>
    public void Write(TextWriter output, string heading, bool json)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(this, Json));
            return;
        }

        output.WriteLine(heading);
        output.WriteLine($"bootstrap.servers={BootstrapServers}");
        output.WriteLine($"security.protocol={SecurityProtocol}");
        output.WriteLine($"sasl.mechanism={SaslMechanism}");
        output.WriteLine($"sasl.username={Username}");
        output.WriteLine($"sasl.password={Password}");
        if (CaLocation is not null)
        {
            output.WriteLine($"ssl.ca.location={CaLocation}");
        }

        output.WriteLine("The password is shown only once: store it now, it cannot be read back.");
    }
}

/// <summary>The options of the commands that print <see cref="ClientSettings"/>: where and how the tenant's clients connect.</summary>
internal sealed class ClientSettingsOptions
{
    /// <summary>--json.</summary>
    public Option<bool> Json { get; } = new("--json") { Description = "Print the client settings as one JSON object." };

    /// <summary>--client-bootstrap.</summary>
    public Option<string?> ClientBootstrap { get; } = new("--client-bootstrap") { Description = "The bootstrap servers clients connect to (HOST:PORT,...); default: those this command uses." };

    /// <summary>--security-protocol.</summary>
    public Option<string?> SecurityProtocol { get; } = new("--security-protocol") { Description = "SASL_SSL or SASL_PLAINTEXT; default: SASL_SSL with --ca-location, else SASL_PLAINTEXT." };

    /// <summary>--ca-location.</summary>
    public Option<string?> CaLocation { get; } = new("--ca-location") { Description = "The CA certificate file clients trust the broker with." };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Json);
        command.Options.Add(ClientBootstrap);
        command.Options.Add(SecurityProtocol);
        command.Options.Add(CaLocation);
    }

    /// <summary>The endpoint the options name, the defaults filled in; read before anything is changed, so a bad option changes nothing.</summary>
    /// <param name="parse">The command line.</param>
    /// <param name="bootstrap">The bootstrap servers the command itself uses: the default of --client-bootstrap.</param>
    /// <exception cref="ClusterCommandException">--security-protocol is neither SASL_SSL nor SASL_PLAINTEXT.</exception>
    public ClientEndpoint Read(ParseResult parse, string bootstrap)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var ca = parse.GetValue(CaLocation);
        var protocol = parse.GetValue(SecurityProtocol)?.ToUpperInvariant() switch
        {
            null => ca is null ? "SASL_PLAINTEXT" : "SASL_SSL",
            "SASL_SSL" => "SASL_SSL",
            "SASL_PLAINTEXT" => "SASL_PLAINTEXT",
            _ => throw new ClusterCommandException($"--security-protocol must be SASL_SSL or SASL_PLAINTEXT, not '{parse.GetValue(SecurityProtocol)}'."),
        };
        return new ClientEndpoint(parse.GetValue(ClientBootstrap) ?? bootstrap, protocol, ca);
    }
}
