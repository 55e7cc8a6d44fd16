using Microsoft.Extensions.Configuration;

namespace Levee.Broker.Tests.Admin;

/// <summary>admin.listener and admin.token as `levee serve` reads them.</summary>
public sealed class AdminSettingsTests
{
    [Fact]
    public void AdminListener_DefaultsTo8080OnLoopbackForServe_AndIsOffForAnEmbeddedBroker()
    {
        Assert.Equal("127.0.0.1:8080", Read().AdminListener);
        Assert.Null(new BrokerOptions().AdminListener);
    }

    [Theory]
    [InlineData("off")]
    [InlineData("")]
    [InlineData(" off ")]
    public void AdminListener_OffOrEmpty_TurnsItOff(string value) =>
        Assert.Null(Read(("admin.listener", value)).AdminListener);

    [Theory]
    [InlineData("8080")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:http")]
    [InlineData("127.0.0.1:70000")]
    public void AdminListener_NotHostAndPort_IsRefusedNamingIt(string value)
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(("admin.listener", value)));
        Assert.Contains("admin.listener", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AdminListener_OffLoopback_NeedsAToken_WhichNeverShowsInTheOptions()
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(("admin.listener", "0.0.0.0:8080")));
        Assert.Contains("admin.token", error.Message, StringComparison.Ordinal);

        var options = Read(("admin.listener", "0.0.0.0:8080"), ("ADMIN_TOKEN", "t0ps3cret"));
        Assert.Equal("t0ps3cret", options.AdminToken?.Value);
        Assert.DoesNotContain("t0ps3cret", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AdminSettings_Misspelled_AreRefused()
    {
        var error = Assert.Throws<BrokerConfigurationException>(() => Read(("admin.listeners", "127.0.0.1:0")));
        Assert.Contains("admin.listener", error.Message, StringComparison.Ordinal);
    }

    private static BrokerOptions Read(params (string Key, string Value)[] settings) =>
        BrokerOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());
}
