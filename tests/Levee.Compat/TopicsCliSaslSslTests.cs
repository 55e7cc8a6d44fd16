using System.Text.Json;
using Levee.Compat.Infrastructure;
using Levee.Tests.Tls;

namespace Levee.Compat;

/// <summary>
/// `levee topics write|tail` as a hosted tenant's user runs them: over SASL_SSL (SCRAM-SHA-512, the broker verified
/// with the CA), with the credentials `levee tenants create` printed, in a `--command-config` file.
/// </summary>
public sealed class TopicsCliSaslSslTests : IAsyncLifetime
{
    private readonly TestCertificates _certificates = TestCertificates.Create();
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync()
    {
        // The listener named SASL_PLAINTEXT speaks SASL_SSL.
        _levee = await LeveeProcess.StartWithSaslListenerAsync(
            "--set", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_SSL",
            "--set", "ssl.keystore.location=" + _certificates.WriteServerKeystore().Path);
    }

    public async Task DisposeAsync()
    {
        await _levee.DisposeAsync();
        _certificates.Dispose();
    }

    [Fact]
    public async Task ATenantsUser_WritesAndTails_OverSaslSsl_InItsOwnNamespace()
    {
        var saslBootstrap = $"127.0.0.1:{_levee.SaslPort}";
        var created = await Tool.RunAsync("dotnet", [TopicsCliTests.LeveeDll, "tenants", "create", "acme", "--plan", "basic-0", "--json", "--client-bootstrap", saslBootstrap, "--ca-location", _certificates.CaFile, "--bootstrap", _levee.BootstrapServers]);
        Assert.True(created.ExitCode == 0, created.StdErr);
        using var credentials = JsonDocument.Parse(created.StdOut);
        var root = credentials.RootElement;
        Assert.Equal("SASL_SSL", root.GetProperty("security_protocol").GetString());

        // The client settings, as a tenant keeps them (the password only in this file).
        var properties = Path.Combine(_certificates.Directory, "acme.properties");
        await File.WriteAllLinesAsync(properties,
        [
            "security.protocol=SASL_SSL",
            "sasl.mechanism=" + root.GetProperty("sasl_mechanism").GetString(),
            "sasl.username=" + root.GetProperty("username").GetString(),
            "sasl.password=" + root.GetProperty("password").GetString(),
            "ssl.ca.location=" + root.GetProperty("ca_location").GetString(),
        ]);
        string[] tenant = ["--bootstrap", saslBootstrap, "--command-config", properties];

        var create = await Tool.RunAsync("dotnet", [TopicsCliTests.LeveeDll, "topics", "create", "orders", "--partitions", "1", .. tenant]);
        Assert.True(create.ExitCode == 0, create.StdErr);
        await using var tail = RunningTool.Start("dotnet", [TopicsCliTests.LeveeDll, "topics", "tail", "orders", "--json", .. tenant]);
        await tail.WaitUntilAsync("the tail's ready line", t => t.StdErr.Contains("Tailing orders", StringComparison.Ordinal), TimeSpan.FromSeconds(60));

        var write = await Tool.RunAsync("dotnet", [TopicsCliTests.LeveeDll, "topics", "write", "orders", .. tenant], stdin: "first order\nsecond order\n");
        Assert.True(write.ExitCode == 0, write.StdErr);
        await tail.WaitUntilAsync("both records", t => t.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 2, TimeSpan.FromSeconds(30));
        var records = tail.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["first order", "second order"], records.Select(r => r.GetProperty("value").GetString()));
        Assert.Equal([0L, 1L], records.Select(r => r.GetProperty("offset").GetInt64()));
        Assert.Equal(0, await tail.InterruptAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("Stopped after 2 record(s).", tail.StdErr, StringComparison.Ordinal);

        // Stored under the tenant's prefix, as the operator's listener shows.
        var listed = await Tool.RunAsync("dotnet", [TopicsCliTests.LeveeDll, "topics", "list", "--json", "--bootstrap", _levee.BootstrapServers]);
        Assert.True(listed.ExitCode == 0, listed.StdErr);
        Assert.Contains("acme.orders", JsonDocument.Parse(listed.StdOut).RootElement.GetProperty("topics").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
    }
}
