using System.Security.Cryptography;
using System.Text.Json;
using Levee.Compat.Infrastructure;
using Levee.Tests.Tls;

namespace Levee.Compat;

/// <summary>
/// Issue 10, item 5: every `levee` command that talks to a broker takes `--command-config`. A broker whose only
/// listener is SASL_SSL (the operator's SCRAM-SHA-512 user made before its first start); the commands that speak the
/// Kafka protocol with Levee's own client (topics list and describe, cluster status, quotas, capacity, tenants, plans,
/// info's log sizes) log in over TLS with the file's settings, those on Confluent.Kafka (acls, bench) pass the file
/// to librdkafka, and a wrong password is refused with one line.
/// </summary>
public sealed class CommandConfigCliTests : IAsyncLifetime
{
    private readonly TestCertificates _certificates = TestCertificates.Create();
    private readonly string _password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
    private LeveeProcess _levee = null!;
    private string _properties = "";

    public async Task InitializeAsync()
    {
        var passwordFile = Path.Combine(_certificates.Directory, "password");
        await File.WriteAllTextAsync(passwordFile, _password + "\n");
        var dataDir = Path.Combine(_certificates.Directory, "data");
        var set = await Levee(["users", "set", "operator", "--mechanism", "SCRAM-SHA-512", "--password-file", passwordFile, "--data-dir", dataDir]);
        Assert.True(set.ExitCode == 0, set.StdErr + set.StdOut);
        _levee = await LeveeProcess.StartAsync(
            dataDir,
            null,
            "--set",
            "listener.security.protocol.map=PLAINTEXT:SASL_SSL",
            "--set",
            "ssl.keystore.location=" + _certificates.WriteServerKeystore().Path);
        _properties = await WritePropertiesAsync("operator.properties", _password);
        var created = await Levee(["topics", "create", "secured", "--partitions", "3", .. Secured()]);
        Assert.True(created.ExitCode == 0, created.StdErr + created.StdOut);
    }

    public async Task DisposeAsync()
    {
        await _levee.DisposeAsync();
        _certificates.Dispose();
    }

    [Fact]
    public async Task TopicsListAndDescribe_LogInOverSaslSsl()
    {
        var listed = await Levee(["topics", "list", "--json", .. Secured()]);
        Assert.True(listed.ExitCode == 0, listed.StdErr + listed.StdOut);
        var topic = JsonDocument.Parse(listed.StdOut).RootElement.GetProperty("topics").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "secured");
        Assert.Equal(3, topic.GetProperty("partitions").GetInt32());

        var described = await Levee(["topics", "describe", "secured", "--json", .. Secured()]);
        Assert.True(described.ExitCode == 0, described.StdErr + described.StdOut);
        Assert.Equal(3, JsonDocument.Parse(described.StdOut).RootElement.GetProperty("partitions").GetArrayLength());
    }

    [Fact]
    public async Task ClusterStatus_LogsInOverSaslSsl()
    {
        var status = await Levee(["cluster", "status", .. Secured()]);
        Assert.True(status.ExitCode == 0, status.StdErr + status.StdOut);
        Assert.Contains("Controller: 1", status.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QuotasCapacityTenantsAndPlans_LogInOverSaslSsl()
    {
        var set = await Levee(["quotas", "set", "--user", "alice", "--config", "producer_byte_rate=1048576", .. Secured()]);
        Assert.True(set.ExitCode == 0, set.StdErr + set.StdOut);
        var quotas = await Levee(["quotas", "list", .. Secured()]);
        Assert.True(quotas.ExitCode == 0, quotas.StdErr + quotas.StdOut);
        Assert.Contains("1048576", quotas.StdOut, StringComparison.Ordinal);

        var capacity = await Levee(["capacity", "--json", .. Secured()]);
        Assert.True(capacity.ExitCode == 0, capacity.StdErr + capacity.StdOut);
        Assert.Single(JsonDocument.Parse(capacity.StdOut).RootElement.GetProperty("brokers").EnumerateArray());

        var plans = await Levee(["plans", "list", .. Secured()]);
        Assert.True(plans.ExitCode == 0, plans.StdErr + plans.StdOut);
        Assert.Contains("basic-0", plans.StdOut, StringComparison.Ordinal);

        var tenants = await Levee(["tenants", "list", "--json", .. Secured()]);
        Assert.True(tenants.ExitCode == 0, tenants.StdErr + tenants.StdOut);

        // Through Confluent.Kafka (the authorizer is off: no ACLs to list, as librdkafka reads SECURITY_DISABLED).
        var acls = await Levee(["acls", "list", .. Secured()]);
        Assert.True(acls.ExitCode == 0, acls.StdErr + acls.StdOut);
        var bench = await Levee(["bench", "produce", "--topic", "benched", "--records", "200", "--size", "100", "--no-progress", .. Secured()]);
        Assert.True(bench.ExitCode == 0, bench.StdErr + bench.StdOut);
    }

    [Fact]
    public async Task Info_ReadsLogSizesOverSaslSsl()
    {
        var info = await Levee(["info", "--json", "--sample-s", "0.2", .. Secured()]);
        Assert.True(info.ExitCode == 0, info.StdErr + info.StdOut);
        var root = JsonDocument.Parse(info.StdOut).RootElement;
        Assert.Equal(JsonValueKind.Number, root.GetProperty("data_bytes").ValueKind);
        Assert.True(root.GetProperty("data_limit_bytes").GetInt64() > 0);
    }

    [Fact]
    public async Task AWrongPassword_IsRefusedInOneLine_WithoutThePassword()
    {
        var wrong = await WritePropertiesAsync("wrong.properties", "not-" + _password);
        var status = await Levee(["cluster", "status", "--bootstrap", _levee.BootstrapServers, "--command-config", wrong, "--timeout-s", "10"]);
        Assert.Equal(1, status.ExitCode);
        Assert.Contains("SASL authentication", status.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(_password, status.StdErr + status.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", status.StdErr, StringComparison.Ordinal);

        // Without the file, a SASL_SSL listener is not spoken to at all.
        var plain = await Levee(["topics", "list", "--bootstrap", _levee.BootstrapServers, "--timeout-s", "5"]);
        Assert.Equal(1, plain.ExitCode);
    }

    private string[] Secured() => ["--bootstrap", _levee.BootstrapServers, "--command-config", _properties];

    private async Task<string> WritePropertiesAsync(string name, string password)
    {
        var path = Path.Combine(_certificates.Directory, name);
        await File.WriteAllLinesAsync(path,
        [
            "security.protocol=SASL_SSL",
            "sasl.mechanism=SCRAM-SHA-512",
            "sasl.username=operator",
            "sasl.password=" + password,
            "ssl.ca.location=" + _certificates.CaFile,
        ]);
        return path;
    }

    private static Task<Tool.Result> Levee(string[] args) =>
        Tool.RunAsync("dotnet", [TopicsCliTests.LeveeDll, .. args], timeout: TimeSpan.FromSeconds(120));
}
