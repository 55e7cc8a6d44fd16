using Levee.Compat.Infrastructure;

namespace Levee.Compat;

/// <summary>`levee acls` against a started `levee serve` with the authorizer on and the CLI's principal a super user.</summary>
public sealed class AclsCliTests : IAsyncLifetime
{
    private LeveeProcess _levee = null!;

    public async Task InitializeAsync() =>
        _levee = await LeveeProcess.StartAsync(extraArgs: ["--set", "authorizer.enabled=true", "--set", "super.users=User:ANONYMOUS"]);

    public async Task DisposeAsync() => await _levee.DisposeAsync();

    [Fact]
    public async Task AddListRemove_WithKafkaAclsOptions()
    {
        var add = await RunAsync("add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Describe", "--topic", "orders-", "--group", "orders-", "--resource-pattern-type", "prefixed");
        Assert.True(add.ExitCode == 0, add.StdErr + add.StdOut);
        var deny = await RunAsync("add", "--deny-principal", "User:bob", "--deny-host", "10.0.0.1", "--operation", "Write", "--topic", "payments");
        Assert.True(deny.ExitCode == 0, deny.StdErr + deny.StdOut);

        var all = await RunAsync("list");
        Assert.True(all.ExitCode == 0, all.StdErr);
        Assert.Contains("ResourcePattern(resourceType=TOPIC, name=orders-, patternType=PREFIXED)", all.StdOut, StringComparison.Ordinal);
        Assert.Contains("ResourcePattern(resourceType=GROUP, name=orders-, patternType=PREFIXED)", all.StdOut, StringComparison.Ordinal);
        Assert.Contains("(principal=User:bob, host=10.0.0.1, operation=WRITE, permissionType=DENY)", all.StdOut, StringComparison.Ordinal);
        Assert.Equal(5, Entries(all.StdOut));

        // MATCH lists what applies to one topic: the prefix, not the other topic's ACL.
        var match = await RunAsync("list", "--topic", "orders-eu", "--resource-pattern-type", "match");
        Assert.Equal(2, Entries(match.StdOut));
        Assert.DoesNotContain("payments", match.StdOut, StringComparison.Ordinal);

        var remove = await RunAsync("remove", "--topic", "orders-", "--resource-pattern-type", "prefixed", "--allow-principal", "User:alice", "--operation", "Read");
        Assert.True(remove.ExitCode == 0, remove.StdErr + remove.StdOut);
        Assert.Equal(1, Entries(remove.StdOut));
        Assert.Contains("(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)", remove.StdOut, StringComparison.Ordinal);

        var alice = await RunAsync("list", "--principal", "User:alice");
        Assert.Equal(3, Entries(alice.StdOut));

        var removeAll = await RunAsync("remove", "--topic", "payments");
        Assert.Equal(1, Entries(removeAll.StdOut));
        Assert.Equal(3, Entries((await RunAsync("list")).StdOut));
    }

    [Fact]
    public async Task Add_WithoutAPrincipalOrWithAMalformedOne_IsAUsageError()
    {
        var noPrincipal = await RunAsync("add", "--topic", "t");
        Assert.Equal(2, noPrincipal.ExitCode);
        Assert.Contains("--allow-principal", noPrincipal.StdErr, StringComparison.Ordinal);

        var malformed = await RunAsync("add", "--allow-principal", "alice", "--topic", "t");
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("User:alice", malformed.StdErr, StringComparison.Ordinal);
        Assert.Equal("No ACLs.", (await RunAsync("list")).StdOut.Trim());
    }

    private Task<Tool.Result> RunAsync(params string[] args)
    {
        var levee = Path.Combine(AppContext.BaseDirectory, "levee.dll");
        return Tool.RunAsync("dotnet", [levee, "acls", .. args, "--bootstrap", _levee.BootstrapServers], timeout: TimeSpan.FromSeconds(90));
    }

    private static int Entries(string output) => output.Split('\n').Count(l => l.StartsWith(" \t(principal=", StringComparison.Ordinal));
}
