using System.Buffers.Text;
using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;
using Levee.Commands.Clusters;
using Levee.Commands.Tenants;

namespace Levee.Compat;

/// <summary>Tenant and plan names, and the credentials and client settings `levee tenants create` and `rotate` print.</summary>
public sealed class TenantNamesTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("acme")]
    [InlineData("acme-2")]
    [InlineData("a-")]
    [InlineData("abcdefghijklmnopqrstuvwxyz012345")]
    public void IsValid_TakesLowercaseNamesOfUpTo32Characters_StartingWithALetter(string name)
    {
        Assert.True(TenantNames.IsValid(name));
        Assert.Equal(name, TenantNames.Check(name, "tenant"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Acme")]
    [InlineData("1acme")]
    [InlineData("-acme")]
    [InlineData("acme_corp")]
    [InlineData("acme.corp")]
    [InlineData("ac me")]
    [InlineData("acme\n")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456")]
    public void IsValid_RefusesEveryOtherName(string name)
    {
        Assert.False(TenantNames.IsValid(name));
        var e = Assert.Throws<ClusterCommandException>(() => TenantNames.Check(name, "plan"));
        Assert.Equal($"'{name}' is not a valid plan name (1 to 32 characters: lowercase letters, digits and '-', starting with a letter).", e.Message);
    }

    [Fact]
    public void NewUsername_IsTheTenantDashAndSixRandomLowercaseAlphanumerics()
    {
        var names = Enumerable.Range(0, 50).Select(_ => TenantNames.NewUsername("acme")).ToList();
        Assert.All(names, n => Assert.Matches(new Regex(@"^acme-[a-z0-9]{6}\z"), n));
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    [Fact]
    public void NewPassword_Is32RandomBytesInBase64Url()
    {
        var passwords = Enumerable.Range(0, 50).Select(_ => TenantNames.NewPassword()).ToList();
        Assert.All(passwords, p =>
        {
            Assert.Matches(new Regex(@"^[A-Za-z0-9_-]{43}\z"), p);
            Assert.Equal(32, Base64Url.DecodeFromChars(p).Length);
        });
        Assert.Equal(passwords.Count, passwords.Distinct().Count());
    }

    [Fact]
    public void ClientSettings_AsJson_HaveExactlyTheKeysAClientNeeds_CaLocationNullWhenNone()
    {
        var settings = new ClientSettings(new ClientEndpoint("broker:9092", "SASL_PLAINTEXT", null), "acme-abc123", "secret");
        var output = new StringWriter();
        settings.Write(output, "heading", json: true);

        using var json = JsonDocument.Parse(output.ToString());
        Assert.Equal(
            ["bootstrap_servers", "security_protocol", "sasl_mechanism", "username", "password", "ca_location"],
            json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("broker:9092", json.RootElement.GetProperty("bootstrap_servers").GetString());
        Assert.Equal("SASL_PLAINTEXT", json.RootElement.GetProperty("security_protocol").GetString());
        Assert.Equal("SCRAM-SHA-512", json.RootElement.GetProperty("sasl_mechanism").GetString());
        Assert.Equal("acme-abc123", json.RootElement.GetProperty("username").GetString());
        Assert.Equal("secret", json.RootElement.GetProperty("password").GetString());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("ca_location").ValueKind);
        Assert.DoesNotContain("heading", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ClientSettings_AsText_AreLibrdkafkaPropertiesAndSayThePasswordIsShownOnce()
    {
        var settings = new ClientSettings(new ClientEndpoint("broker:9093", "SASL_SSL", "/etc/ca.pem"), "acme-abc123", "secret");
        var output = new StringWriter();
        settings.Write(output, "Created tenant acme on plan gold. Its clients connect with:", json: false);

        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
            [
                "Created tenant acme on plan gold. Its clients connect with:",
                "bootstrap.servers=broker:9093",
                "security.protocol=SASL_SSL",
                "sasl.mechanism=SCRAM-SHA-512",
                "sasl.username=acme-abc123",
                "sasl.password=secret",
                "ssl.ca.location=/etc/ca.pem",
                "The password is shown only once: store it now, it cannot be read back.",
            ],
            lines);
        Assert.DoesNotContain("secret", settings.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], "cli:9092", "SASL_PLAINTEXT", null)]
    [InlineData(new[] { "--ca-location", "/ca.pem" }, "cli:9092", "SASL_SSL", "/ca.pem")]
    [InlineData(new[] { "--ca-location", "/ca.pem", "--security-protocol", "sasl_plaintext" }, "cli:9092", "SASL_PLAINTEXT", "/ca.pem")]
    [InlineData(new[] { "--security-protocol", "SASL_SSL", "--client-bootstrap", "public:9093" }, "public:9093", "SASL_SSL", null)]
    public void ClientEndpoint_FillsInTheDefaults(string[] args, string bootstrap, string protocol, string? ca)
    {
        var (options, parse) = Parse(args);
        Assert.Equal(new ClientEndpoint(bootstrap, protocol, ca), options.Read(parse, "cli:9092"));
    }

    [Fact]
    public void ClientEndpoint_RefusesOtherSecurityProtocols()
    {
        var (options, parse) = Parse(["--security-protocol", "SSL"]);
        var e = Assert.Throws<ClusterCommandException>(() => options.Read(parse, "cli:9092"));
        Assert.Equal("--security-protocol must be SASL_SSL or SASL_PLAINTEXT, not 'SSL'.", e.Message);
    }

    private static (ClientSettingsOptions Options, ParseResult Parse) Parse(string[] args)
    {
        var options = new ClientSettingsOptions();
        var command = new RootCommand();
        options.AddTo(command);
        return (options, command.Parse(args));
    }
}
