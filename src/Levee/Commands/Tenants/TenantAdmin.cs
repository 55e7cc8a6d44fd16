using System.Globalization;
using System.Net.Sockets;
using Confluent.Kafka;
using Levee.Broker.Cluster;
using Levee.Commands.Clusters;
using Levee.Commands.Groups;
using Levee.Protocol.Messages;
using static Levee.Protocol.Messages.IncrementalAlterConfigsRequest;
using ErrorCode = Levee.Protocol.ErrorCode;
using ScramMechanism = Levee.Cluster.Metadata.ScramMechanism;

namespace Levee.Commands.Tenants;

/// <summary>
/// Levee's tenants and plans over the Kafka protocol. Both are config resources of Levee's own types (TENANT = 100,
/// PLAN = 101) in IncrementalAlterConfigs and DescribeConfigs, sent with the broker's own <see cref="BrokerClient"/>
/// to the first bootstrap server, as `levee quotas` sends its requests: Confluent.Kafka knows only Kafka's resource
/// types. A tenant's SCRAM credentials, topics and groups are handled as `levee users`, `topics` and `groups` do.
/// </summary>
internal sealed class TenantAdmin : IAsyncDisposable
{
    /// <summary>The config resource type of a tenant; the resource name is the tenant's, or "" for every tenant.</summary>
    public const sbyte TenantResource = 100;

    /// <summary>The config resource type of a plan; the resource name is the plan's, or "" for every plan.</summary>
    public const sbyte PlanResource = 101;

    private const short IncrementalAlterConfigsVersion = 1;
    private const short DescribeConfigsVersion = 4;

    // Before version 5 DeleteTopics is not strict about the controller mutation quota: a tenant's many topics are
    // deleted and the caller throttled, rather than the request refused.
    private const short DeleteTopicsVersion = 4;
    private const sbyte Set = 0;
    private const sbyte Delete = 1;
    private const sbyte Append = 2;
    private const sbyte Subtract = 3;
    private const int TimeoutSeconds = 30;
    private const ScramMechanism Mechanism = ScramMechanism.ScramSha512;

    private readonly BrokerClient _client;
    private readonly Lazy<IAdminClient> _scram;

    private TenantAdmin(string bootstrap, string? commandConfig)
    {
        Bootstrap = bootstrap;
        Security = ClientProperties.Security(commandConfig);
        _client = ClusterAdmin.Connect(bootstrap.Split(',')[0].Trim(), "levee-tenants", Security, TimeSpan.FromSeconds(TimeoutSeconds));
        _scram = new(() => ScramAdmin.Create(bootstrap, commandConfig, TimeoutSeconds));
    }

    /// <summary>The bootstrap servers the command talks to.</summary>
    public string Bootstrap { get; }

    /// <summary>How the command's connections are secured (--command-config).</summary>
    public ClientSecurity? Security { get; }

    /// <summary>
    /// Runs <paramref name="action"/> with an admin for <paramref name="bootstrap"/> (default: the local cluster's,
    /// else 127.0.0.1:9092), its connections secured by the <paramref name="commandConfig"/> file: a refusal is one line
    /// on stderr and exit code 2, no answer from the broker exit code 1.
    /// </summary>
    public static async Task<int> RunAsync(string? bootstrap, string? commandConfig, Func<TenantAdmin, Task> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        try
        {
            await using var admin = new TenantAdmin(ClusterFile.ResolveBootstrap(bootstrap, ClusterCommand.DefaultDir), commandConfig);
            await action(admin).ConfigureAwait(false);
            return 0;
        }
        catch (Exception e) when (e is ClusterCommandException or GroupCommandException or KafkaException)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 2;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"No answer from the broker: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>The change of one plan: SET each of <paramref name="settings"/> (decimal text), DELETE each of <paramref name="deleted"/>.</summary>
    public static AlterConfigsResource PlanChange(string plan, IEnumerable<KeyValuePair<string, long>> settings, IEnumerable<string> deleted)
    {
        var resource = new AlterConfigsResource { ResourceType = PlanResource, ResourceName = plan };
        resource.Configs.AddRange(settings.Select(s => new AlterableConfig { Name = s.Key, ConfigOperation = Set, Value = s.Value.ToString(CultureInfo.InvariantCulture) }));
        resource.Configs.AddRange(deleted.Select(key => new AlterableConfig { Name = key, ConfigOperation = Delete, Value = null }));
        return resource;
    }

    /// <summary>Sends one IncrementalAlterConfigs of <paramref name="resources"/>; each resource succeeds or fails alone.</summary>
    /// <returns>The resources that failed, each with its error (empty when all succeeded).</returns>
    public async Task<IReadOnlyList<(string Name, string Error)>> TryAlterAsync(IReadOnlyList<AlterConfigsResource> resources)
    {
        ArgumentNullException.ThrowIfNull(resources);
        var request = new IncrementalAlterConfigsRequest { Resources = [.. resources] };
        var response = await _client.SendAsync<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(
            ApiKey.IncrementalAlterConfigs, IncrementalAlterConfigsVersion, request, CancellationToken.None).ConfigureAwait(false);
        var failed = new List<(string Name, string Error)>();
        foreach (var resource in resources)
        {
            var result = response.Responses.FirstOrDefault(r => r.ResourceType == resource.ResourceType && r.ResourceName == resource.ResourceName);
            if (result is null)
            {
                failed.Add((resource.ResourceName, "the broker did not answer for it"));
            }
            else if (result.ErrorCode != 0)
            {
                failed.Add((resource.ResourceName, Error(result.ErrorCode, result.ErrorMessage)));
            }
        }

        return failed;
    }

    /// <summary>Alters one resource.</summary>
    /// <exception cref="ClusterCommandException">The broker refused: its error code and message.</exception>
    public async Task AlterAsync(AlterConfigsResource resource)
    {
        var failed = await TryAlterAsync([resource]).ConfigureAwait(false);
        if (failed.Count > 0)
        {
            throw new ClusterCommandException(failed[0].Error);
        }
    }

    /// <summary>The configs DescribeConfigs returns for <paramref name="type"/> named <paramref name="name"/>, in its order.</summary>
    /// <exception cref="ClusterCommandException">The broker refused: its error code and message.</exception>
    public Task<IReadOnlyList<KeyValuePair<string, string?>>> DescribeAsync(sbyte type, string name) => DescribeAsync(_client, type, name);

    /// <summary>
    /// A tenant as the whole cluster sees it: DescribeConfigs of the tenant on every live broker, the usage each broker
    /// measures of its own part (storage of the partitions it leads, connections, bytes in and out per second, time
    /// throttled) summed over them, the rest (plan, users, topics, partitions, limits) as the first broker answers;
    /// with <paramref name="perBroker"/>, each broker's part too, as <c>broker.ID.usage.KEY</c>.
    /// </summary>
    /// <exception cref="ClusterCommandException">A broker refused: its error code and message.</exception>
    public async Task<IReadOnlyList<KeyValuePair<string, string?>>> DescribeTenantAsync(string tenant, bool perBroker)
    {
        var cluster = await ClusterAdmin.DescribeAsync(Bootstrap, Security, TimeSpan.FromSeconds(TimeoutSeconds)).ConfigureAwait(false);
        var parts = new List<(int Broker, IReadOnlyList<KeyValuePair<string, string?>> Configs)>();
        foreach (var broker in cluster.Brokers)
        {
            await using var client = ClusterAdmin.Connect(string.Create(CultureInfo.InvariantCulture, $"{broker.Host}:{broker.Port}"), "levee-tenants", Security, TimeSpan.FromSeconds(TimeoutSeconds));
            parts.Add((broker.Id, await DescribeAsync(client, TenantResource, tenant).ConfigureAwait(false)));
        }

        if (parts.Count == 0)
        {
            return await DescribeAsync(TenantResource, tenant).ConfigureAwait(false);
        }

        var result = new List<KeyValuePair<string, string?>>();
        foreach (var (key, value) in parts[0].Configs)
        {
            result.Add(PerBrokerUsage.Contains(key)
                ? KeyValuePair.Create(key, (string?)parts.Sum(p => Number(p.Configs, key)).ToString(CultureInfo.InvariantCulture))
                : KeyValuePair.Create(key, value));
        }

        result.Add(KeyValuePair.Create("usage.brokers", (string?)parts.Count.ToString(CultureInfo.InvariantCulture)));
        if (perBroker)
        {
            foreach (var (id, configs) in parts)
            {
                result.AddRange(configs.Where(c => PerBrokerUsage.Contains(c.Key)).Select(c => KeyValuePair.Create(string.Create(CultureInfo.InvariantCulture, $"broker.{id}.{c.Key}"), c.Value)));
            }
        }

        return result;
    }

    // What each broker measures of a tenant for itself (TenantUsage); topics and partitions are the cluster's already.
    private static readonly HashSet<string> PerBrokerUsage = new(StringComparer.Ordinal)
    {
        "usage.storage_bytes", "usage.connections", "usage.bytes_in_per_sec", "usage.bytes_out_per_sec", "usage.throttled_ms",
    };

    private static double Number(IReadOnlyList<KeyValuePair<string, string?>> configs, string key) =>
        double.TryParse(configs.FirstOrDefault(c => c.Key == key).Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : 0;

    private static async Task<IReadOnlyList<KeyValuePair<string, string?>>> DescribeAsync(BrokerClient client, sbyte type, string name)
    {
        var request = new DescribeConfigsRequest();
        request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = type, ResourceName = name, ConfigurationKeys = null });
        var response = await client.SendAsync<DescribeConfigsRequest, DescribeConfigsResponse>(
            ApiKey.DescribeConfigs, DescribeConfigsVersion, request, CancellationToken.None).ConfigureAwait(false);
        var result = response.Results.FirstOrDefault() ?? throw new ClusterCommandException("The broker answered DescribeConfigs without a result.");
        if (result.ErrorCode != 0)
        {
            throw new ClusterCommandException(Error(result.ErrorCode, result.ErrorMessage));
        }

        return [.. result.Configs.Select(c => KeyValuePair.Create(c.Name, c.Value))];
    }

    /// <summary>Puts <paramref name="tenant"/> on <paramref name="plan"/> (SET plan), creating the tenant when there is none.</summary>
    /// <exception cref="ClusterCommandException">The broker refused: its error code and message.</exception>
    public Task SetPlanAsync(string tenant, string plan) => AlterTenantAsync(tenant, Set, "plan", plan);

    /// <summary>Deletes <paramref name="tenant"/> (DELETE plan); the broker refuses while it has users or topics.</summary>
    /// <exception cref="ClusterCommandException">The broker refused: its error code and message.</exception>
    public Task DeleteTenantAsync(string tenant) => AlterTenantAsync(tenant, Delete, "plan", null);

    /// <summary>
    /// Makes a new user for <paramref name="tenant"/>: a SCRAM-SHA-512 credential with a random password, then the
    /// user bound to the tenant (APPEND users). When binding fails, the credential is deleted again.
    /// </summary>
    /// <returns>The settings its client needs, password included.</returns>
    public async Task<ClientSettings> AddUserAsync(string tenant, ClientEndpoint endpoint)
    {
        var user = TenantNames.NewUsername(tenant);
        var password = TenantNames.NewPassword();
        await ScramAdmin.UpsertAsync(_scram.Value, user, Mechanism, password, ScramAdmin.DefaultIterations).ConfigureAwait(false);
        try
        {
            await AlterTenantAsync(tenant, Append, "users", user).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFailure(e))
        {
            throw await UndoAsync(e, $"delete the credential of {user}", () => ScramAdmin.DeleteAsync(_scram.Value, user, Mechanism)).ConfigureAwait(false);
        }

        return new ClientSettings(endpoint, user, password);
    }

    /// <summary>Unbinds <paramref name="user"/> from <paramref name="tenant"/> (SUBTRACT users), then deletes its SCRAM-SHA-512 credential.</summary>
    public async Task RemoveUserAsync(string tenant, string user)
    {
        await AlterTenantAsync(tenant, Subtract, "users", user).ConfigureAwait(false);
        await ScramAdmin.DeleteAsync(_scram.Value, user, Mechanism).ConfigureAwait(false);
    }

    /// <summary>
    /// Binds <paramref name="name"/>, the name ssl.principal.mapping.rules makes of a client certificate's subject, to
    /// <paramref name="tenant"/>: a client presenting that certificate on an SSL listener is the tenant's (APPEND users).
    /// With <paramref name="unbind"/>, removes it again (SUBTRACT users).
    /// </summary>
    /// <exception cref="ClusterCommandException">The broker refused: its error code and message.</exception>
    public Task BindCertificateAsync(string tenant, string name, bool unbind) =>
        AlterTenantAsync(tenant, unbind ? Subtract : Append, "users", name);

    /// <summary>Deletes every topic whose name starts with <paramref name="prefix"/> (Metadata of all topics, then DeleteTopics).</summary>
    /// <returns>The topics deleted.</returns>
    public async Task<IReadOnlyList<string>> DeleteTopicsAsync(string prefix)
    {
        var cluster = await ClusterAdmin.DescribeAsync(Bootstrap, Security, TimeSpan.FromSeconds(TimeoutSeconds)).ConfigureAwait(false);
        var topics = cluster.Partitions.Select(p => p.Topic).Where(t => t.StartsWith(prefix, StringComparison.Ordinal)).Distinct().ToList();
        if (topics.Count == 0)
        {
            return topics;
        }

        var request = new DeleteTopicsRequest { TopicNames = topics, TimeoutMs = TimeoutSeconds * 1000 };
        var response = await _client.SendAsync<DeleteTopicsRequest, DeleteTopicsResponse>(ApiKey.DeleteTopics, DeleteTopicsVersion, request, CancellationToken.None).ConfigureAwait(false);
        var failed = response.Responses.Where(r => r.ErrorCode != 0).Select(r => $"{r.Name}: {Error(r.ErrorCode, r.ErrorMessage)}").ToList();
        return failed.Count == 0 ? topics : throw new ClusterCommandException("Topics not deleted: " + string.Join("; ", failed));
    }

    /// <summary>Deletes every group whose id starts with <paramref name="prefix"/> (ListGroups, then DeleteGroups, as `levee groups` does).</summary>
    /// <returns>The groups deleted.</returns>
    public async Task<IReadOnlyList<string>> DeleteGroupsAsync(string prefix)
    {
        using var groups = new GroupAdmin(Bootstrap, commandConfig: null, TimeSpan.FromSeconds(TimeoutSeconds));
        var ids = (await groups.ListAsync().ConfigureAwait(false)).Select(g => g.GroupId).Where(g => g.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        foreach (var id in ids)
        {
            await groups.DeleteAsync(id).ConfigureAwait(false);
        }

        return ids;
    }

    /// <summary>Whether <paramref name="e"/> is how a step of a command fails: refused, or no answer.</summary>
    public static bool IsFailure(Exception e) =>
        e is ClusterCommandException or GroupCommandException or KafkaException or IOException or SocketException or OperationCanceledException;

    /// <summary>
    /// Undoes what a command did before <paramref name="failure"/>, and returns the error to report: the failure's
    /// message and what was undone, or why it could not be.
    /// </summary>
    public static async Task<ClusterCommandException> UndoAsync(Exception failure, string what, Func<Task> undo)
    {
        ArgumentNullException.ThrowIfNull(failure);
        ArgumentNullException.ThrowIfNull(undo);
        try
        {
            await undo().ConfigureAwait(false);
            return new ClusterCommandException($"{failure.Message} (undone: {what})");
        }
        catch (Exception e) when (IsFailure(e))
        {
            return new ClusterCommandException($"{failure.Message} (could not undo, {what}: {e.Message})");
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync().ConfigureAwait(false);
        if (_scram.IsValueCreated)
        {
            _scram.Value.Dispose();
        }
    }

    private Task AlterTenantAsync(string tenant, sbyte operation, string key, string? value)
    {
        var resource = new AlterConfigsResource { ResourceType = TenantResource, ResourceName = tenant };
        resource.Configs.Add(new AlterableConfig { Name = key, ConfigOperation = operation, Value = value });
        return AlterAsync(resource);
    }

    private static string Error(short code, string? message) =>
        string.IsNullOrEmpty(message) ? $"{(ErrorCode)code}" : $"{(ErrorCode)code}: {message}";
}
