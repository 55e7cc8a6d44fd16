using System.Collections.Immutable;
using Levee.Broker.Cluster;
using Levee.Cluster.Controller;
using Levee.Protocol;
using Levee.Protocol.Messages;

namespace Levee.Broker.Partitions;

/// <summary>
/// Topic admin decisions belong to the active controller. A broker that is not the controller
/// forwards them to it over the Kafka protocol (Kafka's brokers forward admin requests to the
/// controller the same way), so auto-created topics, the offsets topic and client admin requests
/// work whichever broker receives them.
/// </summary>
public sealed partial class ReplicaManager
{
    private const short CreateTopicsVersion = 7;
    private const short DeleteTopicsVersion = 6;
    private const short CreatePartitionsVersion = 3;
    private const short AlterConfigsVersion = 2;
    private const int ForwardTimeoutMs = 30_000;
    private static readonly TimeSpan ForwardDeadline = TimeSpan.FromMilliseconds(ForwardTimeoutMs + 5_000);
    private const sbyte TopicResourceType = 2;

    private async Task<Decision> ForwardCreateTopicAsync(string name, int partitions, short replicationFactor, IReadOnlyList<ImmutableArray<int>>? assignment, IReadOnlyDictionary<string, string> configs, CancellationToken cancellationToken)
    {
        var topic = new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = assignment is null ? partitions : -1, ReplicationFactor = assignment is null ? replicationFactor : (short)-1 };
        for (var i = 0; assignment is not null && i < assignment.Count; i++)
        {
            var replicas = new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = i };
            replicas.BrokerIds.AddRange(assignment[i]);
            topic.Assignments.Add(replicas);
        }

        foreach (var (key, value) in configs)
        {
            topic.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = key, Value = value });
        }

        var request = new CreateTopicsRequest { TimeoutMs = ForwardTimeoutMs };
        request.Topics.Add(topic);
        var response = await ForwardToControllerAsync<CreateTopicsRequest, CreateTopicsResponse>(ApiKey.CreateTopics, CreateTopicsVersion, request, cancellationToken).ConfigureAwait(false);
        if (response is null)
        {
            return NoController();
        }

        var result = response.Topics.FirstOrDefault();
        return result is null ? Decision.Fail(ErrorCode.UnknownServerError, "The controller answered without the topic.") : Outcome((ErrorCode)result.ErrorCode, result.ErrorMessage);
    }

    private async Task<Decision> ForwardDeleteTopicAsync(string name, CancellationToken cancellationToken)
    {
        var request = new DeleteTopicsRequest { TimeoutMs = ForwardTimeoutMs };
        request.Topics.Add(new DeleteTopicsRequest.DeleteTopicState { Name = name });
        var response = await ForwardToControllerAsync<DeleteTopicsRequest, DeleteTopicsResponse>(ApiKey.DeleteTopics, DeleteTopicsVersion, request, cancellationToken).ConfigureAwait(false);
        var result = response?.Responses.FirstOrDefault();
        return result is null ? NoController() : Outcome((ErrorCode)result.ErrorCode, result.ErrorMessage);
    }

    private async Task<Decision> ForwardCreatePartitionsAsync(string name, int count, IReadOnlyList<ImmutableArray<int>>? assignment, CancellationToken cancellationToken)
    {
        var request = new CreatePartitionsRequest { TimeoutMs = ForwardTimeoutMs };
        request.Topics.Add(new CreatePartitionsRequest.CreatePartitionsTopic
        {
            Name = name,
            Count = count,
            Assignments = assignment?.Select(a => new CreatePartitionsRequest.CreatePartitionsAssignment { BrokerIds = [.. a] }).ToList(),
        });
        var response = await ForwardToControllerAsync<CreatePartitionsRequest, CreatePartitionsResponse>(ApiKey.CreatePartitions, CreatePartitionsVersion, request, cancellationToken).ConfigureAwait(false);
        var result = response?.Results.FirstOrDefault();
        return result is null ? NoController() : Outcome((ErrorCode)result.ErrorCode, result.ErrorMessage);
    }

    private async Task<Decision> ForwardAlterConfigsAsync(string name, ImmutableSortedDictionary<string, string> configs, CancellationToken cancellationToken)
    {
        var resource = new AlterConfigsRequest.AlterConfigsResource { ResourceType = TopicResourceType, ResourceName = name };
        foreach (var (key, value) in configs)
        {
            resource.Configs.Add(new AlterConfigsRequest.AlterableConfig { Name = key, Value = value });
        }

        var request = new AlterConfigsRequest();
        request.Resources.Add(resource);
        var response = await ForwardToControllerAsync<AlterConfigsRequest, AlterConfigsResponse>(ApiKey.AlterConfigs, AlterConfigsVersion, request, cancellationToken).ConfigureAwait(false);
        var result = response?.Responses.FirstOrDefault();
        return result is null ? NoController() : Outcome((ErrorCode)result.ErrorCode, result.ErrorMessage);
    }

    /// <summary>
    /// Sends <paramref name="request"/> to the active controller over the inter-broker listener and returns its answer,
    /// or null when no controller is reachable: how a broker that is not the controller serves an admin request.
    /// </summary>
    public async Task<TResponse?> ForwardToControllerAsync<TRequest, TResponse>(ApiKey key, short version, TRequest request, CancellationToken cancellationToken)
        where TRequest : IKafkaMessage
        where TResponse : class, IKafkaMessage<TResponse>
    {
        if (_channel.Client() is not { } client)
        {
            return null;
        }

        try
        {
            // Bounded on its own: the controller's answer waits for its own TimeoutMs, so a little more is enough.
            return await ControllerRequest.RunAsync(
                token => client.SendAsync<TRequest, TResponse>(key, version, request, token),
                ForwardDeadline,
                _time,
                CancellationToken.None,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or TimeoutException)
        {
            LogForwardFailed(key, client.Address, ex.Message);
            return null;
        }
    }

    private static Decision Outcome(ErrorCode error, string? message) =>
        error == ErrorCode.None ? Decision.Commit([]) : Decision.Fail(error, message ?? error.ToString());

    private Decision NoController() => Decision.Fail(
        ErrorCode.NotController,
        _quorum.LeaderId is null
            ? $"Metadata change refused: the metadata quorum has no leader (fewer than a majority of its {_quorum.Voters.Count} voters are reachable). Data keeps flowing for existing leaders; retry once a majority is back."
            : "No active controller is reachable right now; retry.");
}
