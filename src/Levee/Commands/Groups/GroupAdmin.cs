using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace Levee.Commands.Groups;

/// <summary>One member of a group as DescribeGroups reports it.</summary>
internal sealed record GroupMemberView(string MemberId, string ClientId, string Host, string? InstanceId, IReadOnlyList<TopicPartition> Assignment);

/// <summary>One partition of a group's lag report: committed offset (null when none), log end offset and the owner.</summary>
internal sealed record PartitionLagView(string Topic, int Partition, long? Committed, long? LogEnd, GroupMemberView? Owner)
{
    /// <summary>Log end minus committed, or null when either is unknown.</summary>
    public long? Lag => Committed is { } committed && LogEnd is { } end ? Math.Max(0, end - committed) : null;
}

/// <summary>Everything `levee groups describe` prints about a group.</summary>
internal sealed record GroupView(string GroupId, string State, string ProtocolType, string Protocol, IReadOnlyList<GroupMemberView> Members, IReadOnlyList<PartitionLagView> Partitions);

/// <summary>One line of a reset plan: where the group is on a partition and where it will be.</summary>
internal sealed record OffsetResetLine(string Topic, int Partition, long? Current, long Target);

/// <summary>An error to report to the operator as one line, with a non-zero exit code.</summary>
internal sealed class GroupCommandException(string message) : Exception(message);

/// <summary>
/// Talks to a broker over the Kafka protocol, as any client does: Confluent.Kafka's admin client for the group
/// APIs (ListGroups, DescribeGroups, OffsetFetch, OffsetCommit, DeleteGroups) and a group-less consumer for
/// ListOffsets (watermarks and offsets by time).
/// </summary>
internal sealed class GroupAdmin : IDisposable
{
    private readonly IAdminClient _admin;
    private readonly Lazy<IConsumer<Ignore, Ignore>> _lazyConsumer;
    private readonly TimeSpan _timeout;

    public GroupAdmin(string bootstrap, string? commandConfig, TimeSpan timeout)
    {
        _timeout = timeout;
        _admin = new AdminClientBuilder(ClientProperties.Apply(new AdminClientConfig { BootstrapServers = bootstrap, ClientId = "levee-groups" }, commandConfig))
            .SetLogHandler((_, _) => { })
            .Build();
        // Confluent.Kafka wants a group id for any consumer; this one never subscribes or commits, so the group is
        // never created on the broker. It only sends ListOffsets.
        _lazyConsumer = new(() => new ConsumerBuilder<Ignore, Ignore>(ClientProperties.Apply(
            new ConsumerConfig
            {
                BootstrapServers = bootstrap,
                ClientId = "levee-groups",
                GroupId = "levee-groups-cli",
                EnableAutoCommit = false,
            },
            commandConfig))
            .SetLogHandler((_, _) => { })
            .SetErrorHandler((_, _) => { })
            .Build());
    }

    private IConsumer<Ignore, Ignore> Consumer => _lazyConsumer.Value;

    public async Task<IReadOnlyList<ConsumerGroupListing>> ListAsync()
    {
        try
        {
            var result = await _admin.ListConsumerGroupsAsync(new ListConsumerGroupsOptions { RequestTimeout = _timeout }).ConfigureAwait(false);
            return [.. result.Valid.OrderBy(g => g.GroupId, StringComparer.Ordinal)];
        }
        catch (ListConsumerGroupsException e)
        {
            throw new GroupCommandException("ListGroups failed: " + string.Join("; ", e.Results.Errors.Select(x => x.Reason)));
        }
    }

    public async Task<GroupView> DescribeAsync(string group)
    {
        var description = await DescribeGroupAsync(group).ConfigureAwait(false);
        var members = description.Members
            .Select(m => new GroupMemberView(m.ConsumerId, m.ClientId, m.Host, m.GroupInstanceId, m.Assignment?.TopicPartitions?.ToList() ?? []))
            .OrderBy(m => m.ClientId, StringComparer.Ordinal).ThenBy(m => m.MemberId, StringComparer.Ordinal)
            .ToList();
        var owners = new Dictionary<TopicPartition, GroupMemberView>();
        foreach (var member in members)
        {
            foreach (var tp in member.Assignment)
            {
                owners[tp] = member;
            }
        }

        var committed = await CommittedAsync(group).ConfigureAwait(false);
        var partitions = committed.Keys.Concat(owners.Keys).Distinct()
            .OrderBy(tp => tp.Topic, StringComparer.Ordinal).ThenBy(tp => tp.Partition.Value)
            .Select(tp => new PartitionLagView(
                tp.Topic,
                tp.Partition.Value,
                committed.TryGetValue(tp, out var offset) ? offset : null,
                LogEnd(tp),
                owners.GetValueOrDefault(tp)))
            .ToList();
        return new GroupView(group, StateName(description.State), description.IsSimpleConsumerGroup ? "" : "consumer", description.PartitionAssignor ?? "", members, partitions);
    }

    /// <summary>Works out the new offsets; refuses, as Kafka's tool does, when the group has members.</summary>
    public async Task<IReadOnlyList<OffsetResetLine>> PlanResetAsync(string group, IReadOnlyList<string> topics, ResetTarget target)
    {
        var description = await DescribeGroupAsync(group, allowMissing: true).ConfigureAwait(false);
        if (description is not null && description.State is not (ConsumerGroupState.Empty or ConsumerGroupState.Dead or ConsumerGroupState.Unknown))
        {
            throw new GroupCommandException(
                $"Assignments can only be reset if the group '{group}' is inactive, but the current state is {StateName(description.State)} ({description.Members.Count} members). Stop its consumers first.");
        }

        var partitions = new List<TopicPartition>();
        foreach (var topic in topics)
        {
            partitions.AddRange(Partitions(topic));
        }

        var committed = await CommittedAsync(group).ConfigureAwait(false);
        var byTime = target.Kind == ResetKind.ToDatetime
            ? Consumer.OffsetsForTimes([.. partitions.Select(tp => new TopicPartitionTimestamp(tp, new Timestamp(target.Datetime!.Value)))], _timeout)
                .ToDictionary(r => r.TopicPartition, r => r.Offset.Value)
            : null;
        var plan = new List<OffsetResetLine>();
        foreach (var tp in partitions)
        {
            var marks = Consumer.QueryWatermarkOffsets(tp, _timeout);
            var low = marks.Low.Value;
            var high = marks.High.Value;
            var offset = target.Kind switch
            {
                ResetKind.ToEarliest => low,
                ResetKind.ToLatest => high,
                ResetKind.ToOffset => Math.Clamp(target.Offset, low, high),
                _ => byTime![tp] is var found && found >= 0 ? found : high,
            };
            plan.Add(new OffsetResetLine(tp.Topic, tp.Partition.Value, committed.TryGetValue(tp, out var current) ? current : null, offset));
        }

        return plan;
    }

    public async Task ResetAsync(string group, IReadOnlyList<OffsetResetLine> plan)
    {
        var offsets = new ConsumerGroupTopicPartitionOffsets(group, [.. plan.Select(l => new TopicPartitionOffset(l.Topic, l.Partition, l.Target))]);
        try
        {
            await _admin.AlterConsumerGroupOffsetsAsync([offsets], new AlterConsumerGroupOffsetsOptions { RequestTimeout = _timeout }).ConfigureAwait(false);
        }
        catch (AlterConsumerGroupOffsetsException e)
        {
            var errors = e.Results.SelectMany(r => r.Partitions.Where(p => p.Error.IsError).Select(p => $"{p.TopicPartition}: {p.Error.Reason}"))
                .Concat(e.Results.Where(r => r.Error.IsError).Select(r => r.Error.Reason));
            throw new GroupCommandException($"Could not commit the new offsets of group '{group}': {string.Join("; ", errors)}");
        }
    }

    public async Task DeleteAsync(string group)
    {
        try
        {
            await _admin.DeleteGroupsAsync([group], new DeleteGroupsOptions { RequestTimeout = _timeout }).ConfigureAwait(false);
        }
        catch (DeleteGroupsException e)
        {
            throw new GroupCommandException($"Could not delete group '{group}': {string.Join("; ", e.Results.Where(r => r.Error.IsError).Select(r => $"{r.Error.Code}: {r.Error.Reason}"))}");
        }
    }

    public void Dispose()
    {
        if (_lazyConsumer.IsValueCreated)
        {
            _lazyConsumer.Value.Dispose();
        }

        _admin.Dispose();
    }

    private static string StateName(ConsumerGroupState state) => state switch
    {
        ConsumerGroupState.PreparingRebalance => "PreparingRebalance",
        ConsumerGroupState.CompletingRebalance => "CompletingRebalance",
        ConsumerGroupState.Stable => "Stable",
        ConsumerGroupState.Dead => "Dead",
        ConsumerGroupState.Empty => "Empty",
        _ => "Unknown",
    };

    private Task<ConsumerGroupDescription> DescribeGroupAsync(string group) => DescribeGroupAsync(group, allowMissing: false)!;

    private async Task<ConsumerGroupDescription?> DescribeGroupAsync(string group, bool allowMissing)
    {
        ConsumerGroupDescription description;
        try
        {
            var result = await _admin.DescribeConsumerGroupsAsync([group], new DescribeConsumerGroupsOptions { RequestTimeout = _timeout }).ConfigureAwait(false);
            description = result.ConsumerGroupDescriptions.Single();
        }
        catch (DescribeConsumerGroupsException e)
        {
            description = e.Results.ConsumerGroupDescriptions.Single();
            if (description.Error.Code != ErrorCode.GroupIdNotFound)
            {
                throw new GroupCommandException($"Could not describe group '{group}': {description.Error.Code}: {description.Error.Reason}");
            }
        }

        if (description.State == ConsumerGroupState.Dead || description.Error.Code == ErrorCode.GroupIdNotFound)
        {
            return allowMissing ? null : throw new GroupCommandException($"Consumer group '{group}' does not exist.");
        }

        return description;
    }

    private async Task<Dictionary<TopicPartition, long>> CommittedAsync(string group)
    {
        try
        {
            var results = await _admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, null)], new ListConsumerGroupOffsetsOptions { RequestTimeout = _timeout }).ConfigureAwait(false);
            return results.SelectMany(r => r.Partitions)
                .Where(p => p.Offset.Value >= 0)
                .ToDictionary(p => p.TopicPartition, p => p.Offset.Value);
        }
        catch (ListConsumerGroupOffsetsException e)
        {
            throw new GroupCommandException($"Could not fetch the committed offsets of group '{group}': {string.Join("; ", e.Results.Where(r => r.Error.IsError).Select(r => r.Error.Reason))}");
        }
    }

    private long? LogEnd(TopicPartition tp)
    {
        try
        {
            return Consumer.QueryWatermarkOffsets(tp, _timeout).High.Value;
        }
        catch (KafkaException)
        {
            return null;
        }
    }

    /// <summary>`topic` means all its partitions; `topic:0,2` only those.</summary>
    private List<TopicPartition> Partitions(string spec)
    {
        var colon = spec.LastIndexOf(':');
        var topic = colon < 0 ? spec : spec[..colon];
        // Metadata for all topics: asking for the one topic would create it on a broker that auto-creates topics.
        var metadata = _admin.GetMetadata(_timeout);
        var found = metadata.Topics.SingleOrDefault(t => t.Topic == topic);
        if (found is null || found.Error.IsError || found.Partitions.Count == 0)
        {
            throw new GroupCommandException($"Topic '{topic}' does not exist{(found?.Error.IsError == true ? ": " + found.Error.Reason : "")}.");
        }

        var all = found.Partitions.Select(p => p.PartitionId).Order().ToList();
        if (colon < 0)
        {
            return [.. all.Select(p => new TopicPartition(topic, p))];
        }

        var chosen = new List<TopicPartition>();
        foreach (var part in spec[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, System.Globalization.CultureInfo.InvariantCulture, out var partition) || !all.Contains(partition))
            {
                throw new GroupCommandException($"Topic '{topic}' has no partition '{part}' (it has {all.Count}).");
            }

            chosen.Add(new TopicPartition(topic, partition));
        }

        return chosen;
    }
}
