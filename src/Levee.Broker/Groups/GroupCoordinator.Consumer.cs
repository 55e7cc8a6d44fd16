using System.Text.RegularExpressions;
using Levee.Cluster.Metadata;
using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// ConsumerGroupHeartbeat (KIP-848): joins, heartbeats and leaves in one request. The coordinator keeps the
    /// group epoch, computes the target assignment with a server assignor whenever membership, subscriptions or the
    /// subscribed topics' partitions change, and moves each member towards its target one heartbeat at a time
    /// (revoke first, then assign what others have released). <paramref name="namePrefix"/> is the tenant prefix of
    /// the names the client sees ("" for none): a regular expression is matched against those names.
    /// </summary>
    public async ValueTask<ConsumerGroupHeartbeatResponse> ConsumerGroupHeartbeatAsync(ConsumerGroupHeartbeatRequest request, string clientId, string clientHost, string namePrefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(namePrefix);
        if (ValidateHeartbeat(request) is { } invalid)
        {
            return invalid;
        }

        Regex? regex = null;
        if (!string.IsNullOrEmpty(request.SubscribedTopicRegex))
        {
            try
            {
                regex = SubscriptionRegex(request.SubscribedTopicRegex);
            }
            catch (ArgumentException e)
            {
                return HeartbeatError(ErrorCode.InvalidRegularExpression, $"SubscribedTopicRegex `{request.SubscribedTopicRegex}` is not a valid regular expression: {e.Message}");
            }
        }

        if (_shuttingDown)
        {
            return HeartbeatError(ErrorCode.NotCoordinator, null);
        }

        if (!await TryEnsureOffsetsTopicAsync(cancellationToken).ConfigureAwait(false))
        {
            return HeartbeatError(ErrorCode.CoordinatorNotAvailable, null);
        }

        var coordinatorError = CheckCoordinator(request.GroupId, out var owner);
        if (coordinatorError != ErrorCode.None || owner is null)
        {
            return HeartbeatError(owner is null && coordinatorError == ErrorCode.None ? ErrorCode.CoordinatorNotAvailable : coordinatorError, null);
        }

        var joining = request.MemberEpoch == 0;
        while (true)
        {
            ConsumerGroupHeartbeatResponse response;
            var group = joining ? GetOrCreateGroup(request.GroupId, owner) : TryGetGroup(request.GroupId);
            if (group is null)
            {
                return HeartbeatError(ErrorCode.UnknownMemberId, $"Member {request.MemberId} is not a member of group {request.GroupId}.");
            }

            lock (group.Sync)
            {
                if (!group.Owner.IsServing)
                {
                    return HeartbeatError(ErrorCode.NotCoordinator, null);
                }

                if (group.State == GroupState.Dead)
                {
                    if (joining)
                    {
                        continue;
                    }

                    return HeartbeatError(ErrorCode.CoordinatorNotAvailable, null);
                }

                response = ConsumerHeartbeat(group, request, regex, clientId, clientHost, namePrefix, NowMs);
            }

            // As Kafka, the answer waits until the ISR has the records of what it says.
            var written = response.ErrorCode == 0 ? await WaitForWrittenAsync(group, cancellationToken).ConfigureAwait(false) : ErrorCode.None;
            return written == ErrorCode.None ? response : HeartbeatError(written, null);
        }
    }

    /// <summary>The tombstones that remove a group's own records: its metadata, and a consumer group's epochs (its members have none left).</summary>
    private static IEnumerable<RecordData> GroupTombstones(Group group, long now)
    {
        yield return new RecordData(GroupRecords.GroupMetadataKey(group.GroupId), null, now);
        if (group.Consumer is not null)
        {
            yield return new RecordData(ConsumerGroupRecords.GroupKey(GroupRecordKind.ConsumerGroupTargetAssignmentMetadata, group.GroupId), null, now);
            yield return new RecordData(ConsumerGroupRecords.GroupKey(GroupRecordKind.ConsumerGroupMetadata, group.GroupId), null, now);
        }
    }

    /// <summary>A subscription's regular expression, matched against a whole topic name as Kafka matches it.</summary>
    private static Regex SubscriptionRegex(string pattern) =>
        new("^(?:" + pattern + ")$", RegexOptions.CultureInvariant, RegexTimeout);

    /// <summary>Kafka's checks of a ConsumerGroupHeartbeat request, with its messages; null when it is well formed.</summary>
    private ConsumerGroupHeartbeatResponse? ValidateHeartbeat(ConsumerGroupHeartbeatRequest request)
    {
        string? problem = null;
        if (request.GroupId.Length == 0)
        {
            problem = "GroupId can't be empty.";
        }
        else if (request.InstanceId is { Length: 0 })
        {
            problem = "InstanceId can't be empty.";
        }
        else if (request.RackId is { Length: 0 })
        {
            problem = "RackId can't be empty.";
        }
        else if (request.MemberEpoch < -2)
        {
            problem = $"MemberEpoch {request.MemberEpoch} is invalid.";
        }
        else if (request.MemberEpoch == 0)
        {
            if (request.RebalanceTimeoutMs == -1)
            {
                problem = "RebalanceTimeoutMs must be provided in first request.";
            }
            else if (request.TopicPartitions is null || request.TopicPartitions.Count > 0)
            {
                problem = "TopicPartitions must be empty when (re-)joining.";
            }
            else if (request.SubscribedTopicNames is null && request.SubscribedTopicRegex is null)
            {
                problem = "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.";
            }
        }
        else if (request.MemberId.Length == 0)
        {
            problem = "MemberId can't be empty.";
        }

        if (problem is not null)
        {
            return HeartbeatError(ErrorCode.InvalidRequest, problem);
        }

        if (request.ServerAssignor is { } assignor && !_options.GroupConsumerAssignors.Contains(assignor, StringComparer.Ordinal))
        {
            return HeartbeatError(ErrorCode.UnsupportedAssignor, $"ServerAssignor {assignor} is not supported. Supported assignors: {string.Join(", ", _options.GroupConsumerAssignors)}.");
        }

        return null;
    }

    private static ConsumerGroupHeartbeatResponse HeartbeatError(ErrorCode error, string? message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message, MemberEpoch = -1 };

    /// <summary>One heartbeat of a consumer group member. Called with the group's lock held.</summary>
    private ConsumerGroupHeartbeatResponse ConsumerHeartbeat(Group group, ConsumerGroupHeartbeatRequest request, Regex? regex, string clientId, string clientHost, string namePrefix, long now)
    {
        if (group.Members.Count > 0)
        {
            return HeartbeatError(ErrorCode.GroupIdNotFound, $"Group {group.GroupId} is not a consumer group.");
        }

        var consumer = group.Consumer;
        if (consumer is null)
        {
            if (request.MemberEpoch != 0)
            {
                return HeartbeatError(ErrorCode.UnknownMemberId, $"Member {request.MemberId} is not a member of group {group.GroupId}.");
            }

            // An empty classic group (offsets only) becomes a consumer group, as in Kafka; a record of its classic
            // metadata, if any, is older than the consumer group's records and loses to them on a load.
            consumer = group.Consumer = new ConsumerGroupData();
            group.ProtocolType = "consumer";
            group.ProtocolName = null;
        }

        var records = new List<RecordData>();
        if (request.MemberEpoch < 0)
        {
            return Persisted(group, records, LeaveConsumerGroup(group, consumer, request, records, now), now);
        }

        ConsumerMember member;
        var rebalance = false;
        if (request.MemberEpoch == 0)
        {
            var memberId = request.MemberId.Length > 0 ? request.MemberId : Guid.NewGuid().ToString();
            if (request.InstanceId is { } instanceId && consumer.StaticMembers.TryGetValue(instanceId, out var holder) && holder != memberId && consumer.Members.ContainsKey(holder))
            {
                return HeartbeatError(ErrorCode.UnreleasedInstanceId, $"Static member {memberId} with instance id {instanceId} cannot join the group because the instance id is owned by {holder} member.");
            }

            if (!consumer.Members.TryGetValue(memberId, out member!))
            {
                member = new ConsumerMember(memberId) { InstanceId = request.InstanceId };
                consumer.Members.Add(memberId, member);
                if (request.InstanceId is { } id)
                {
                    consumer.StaticMembers[id] = memberId;
                }

                rebalance = true;
                LogConsumerMemberJoined(group.GroupId, memberId, clientId);
            }
        }
        else if (!consumer.Members.TryGetValue(request.MemberId, out member!))
        {
            return HeartbeatError(ErrorCode.UnknownMemberId, $"Member {request.MemberId} is not a member of group {group.GroupId}.");
        }
        else if (CheckMemberEpoch(member, request) is { } fenced)
        {
            return fenced;
        }

        var owned = request.TopicPartitions?.SelectMany(t => t.Partitions.Select(p => new TopicIdPartition(t.TopicId, p))).ToList();
        var metadataBefore = rebalance ? null : ConsumerGroupRecords.MemberMetadataValue(member);
        var assignmentBefore = ConsumerGroupRecords.CurrentAssignmentValue(member);
        rebalance |= UpdateMember(member, request, regex, clientId, clientHost, namePrefix);
        var metadataAfter = ConsumerGroupRecords.MemberMetadataValue(member);
        if (metadataBefore is null || !metadataBefore.AsSpan().SequenceEqual(metadataAfter))
        {
            records.Add(new RecordData(ConsumerGroupRecords.MemberKey(GroupRecordKind.ConsumerGroupMemberMetadata, group.GroupId, member.MemberId), metadataAfter, now));
        }

        member.SessionDeadlineMs = now + _options.GroupConsumerSessionTimeoutMs;
        var image = _replicas.Image;
        var subscribed = SubscribedPartitions(consumer, image);
        rebalance |= !SameCounts(subscribed, consumer.SubscribedPartitions);
        if (rebalance)
        {
            ComputeTargetAssignment(group, consumer, subscribed, records, now);
        }

        var before = member.Assigned;
        ConsumerReconciliation.Advance(member, consumer.TargetOf(member.MemberId), consumer.AssignmentEpoch, owned, tp => consumer.HeldByOther(member.MemberId, tp));
        if (member.State == ConsumerMemberState.UnrevokedPartitions && member.RevocationDeadlineMs == long.MaxValue)
        {
            member.RevocationDeadlineMs = now + member.RebalanceTimeoutMs;
        }

        var assignmentAfter = ConsumerGroupRecords.CurrentAssignmentValue(member);
        if (!assignmentBefore.AsSpan().SequenceEqual(assignmentAfter))
        {
            records.Add(new RecordData(ConsumerGroupRecords.MemberKey(GroupRecordKind.ConsumerGroupCurrentMemberAssignment, group.GroupId, member.MemberId), assignmentAfter, now));
        }

        UpdateConsumerGroupState(group, consumer, now);
        var response = new ConsumerGroupHeartbeatResponse
        {
            MemberId = member.MemberId,
            MemberEpoch = member.Epoch,
            HeartbeatIntervalMs = _options.GroupConsumerHeartbeatIntervalMs,
        };

        // Kafka sends the assignment to a full request (a join, or one carrying every field) and when it changed.
        var full = request.MemberEpoch == 0 || (request.RebalanceTimeoutMs != -1 && request.SubscribedTopicNames is not null && request.TopicPartitions is not null);
        if (full || !before.SetEquals(member.Assigned))
        {
            response.Assignment = new ConsumerGroupHeartbeatResponse.AssignmentData
            {
                TopicPartitions = [.. member.Assigned.GroupBy(tp => tp.TopicId).OrderBy(g => g.Key).Select(g => new ConsumerGroupHeartbeatResponse.TopicPartitions
                {
                    TopicId = g.Key,
                    Partitions = [.. g.Select(tp => tp.Partition).Order()],
                })],
            };
        }

        return Persisted(group, records, response, now);
    }

    /// <summary>
    /// Writes what a heartbeat changed to __consumer_offsets, as one batch, before <paramref name="response"/> is sent
    /// (the caller waits for the ISR); NOT_COORDINATOR instead when the write is refused.
    /// </summary>
    private ConsumerGroupHeartbeatResponse Persisted(Group group, List<RecordData> records, ConsumerGroupHeartbeatResponse response, long now)
    {
        if (records.Count == 0)
        {
            return response;
        }

        var error = Append(group, records);
        if (error != ErrorCode.None)
        {
            LogConsumerRecordsFailed(group.GroupId, error);
            return HeartbeatError(error, null);
        }

        return response;
    }

    /// <summary>
    /// Kafka's epoch rule: a member ahead of the coordinator, or behind it other than by one lost response (its
    /// previous epoch, owning only what it is assigned), is fenced and must rejoin.
    /// </summary>
    private static ConsumerGroupHeartbeatResponse? CheckMemberEpoch(ConsumerMember member, ConsumerGroupHeartbeatRequest request)
    {
        var received = request.MemberEpoch;
        if (received > member.Epoch)
        {
            return HeartbeatError(ErrorCode.FencedMemberEpoch, $"The consumer group member has a greater member epoch ({received}) than the one known by the group coordinator ({member.Epoch}). The member must abandon all its partitions and rejoin.");
        }

        if (received < member.Epoch)
        {
            var ownsSubset = request.TopicPartitions is { } owned && owned.All(t => t.Partitions.All(p => member.Assigned.Contains(new TopicIdPartition(t.TopicId, p))));
            if (received != member.PreviousEpoch || !ownsSubset)
            {
                return HeartbeatError(ErrorCode.FencedMemberEpoch, $"The consumer group member has a smaller member epoch ({received}) than the one known by the group coordinator ({member.Epoch}). The member must abandon all its partitions and rejoin.");
            }
        }

        return null;
    }

    /// <summary>Takes what the request changes (null fields are unchanged); true when the subscription or assignor changed.</summary>
    private static bool UpdateMember(ConsumerMember member, ConsumerGroupHeartbeatRequest request, Regex? regex, string clientId, string clientHost, string namePrefix)
    {
        member.ClientId = clientId;
        member.ClientHost = clientHost;
        member.NamePrefix = namePrefix;
        if (request.RebalanceTimeoutMs != -1)
        {
            member.RebalanceTimeoutMs = request.RebalanceTimeoutMs;
        }

        if (request.RackId is not null)
        {
            member.RackId = request.RackId;
        }

        var changed = false;
        if (request.SubscribedTopicNames is { } names && !names.Order(StringComparer.Ordinal).SequenceEqual(member.SubscribedTopicNames.Order(StringComparer.Ordinal), StringComparer.Ordinal))
        {
            member.SubscribedTopicNames = [.. names.Distinct(StringComparer.Ordinal)];
            changed = true;
        }

        if (request.SubscribedTopicRegex is { } pattern && pattern != (member.SubscribedTopicRegex ?? ""))
        {
            member.SubscribedTopicRegex = pattern.Length == 0 ? null : pattern;
            member.TopicRegex = regex;
            changed = true;
        }

        if (request.ServerAssignor is { } assignor && assignor != member.ServerAssignor)
        {
            member.ServerAssignor = assignor;
            changed = true;
        }

        return changed;
    }

    /// <summary>A member leaves (epoch -1, or -2 for a static member that will rejoin): its partitions go to the others.</summary>
    private ConsumerGroupHeartbeatResponse LeaveConsumerGroup(Group group, ConsumerGroupData consumer, ConsumerGroupHeartbeatRequest request, List<RecordData> records, long now)
    {
        var memberId = request.MemberId;
        if (request.InstanceId is { } instanceId && consumer.StaticMembers.TryGetValue(instanceId, out var holder))
        {
            if (holder != memberId)
            {
                return HeartbeatError(ErrorCode.FencedInstanceId, $"Static member {memberId} with instance id {instanceId} is not the member {holder} holding it.");
            }
        }

        if (!consumer.Members.ContainsKey(memberId))
        {
            return HeartbeatError(ErrorCode.UnknownMemberId, $"Member {memberId} is not a member of group {group.GroupId}.");
        }

        LogConsumerMemberLeft(group.GroupId, memberId);
        RemoveConsumerMember(group, consumer, memberId, records, now);
        return new ConsumerGroupHeartbeatResponse { MemberId = memberId, MemberEpoch = request.MemberEpoch, HeartbeatIntervalMs = 0 };
    }

    /// <summary>
    /// Removes a member (left, or fenced by a deadline), with tombstones of its records, and computes the others' new
    /// target. Called with the group's lock held.
    /// </summary>
    private void RemoveConsumerMember(Group group, ConsumerGroupData consumer, string memberId, List<RecordData> records, long now)
    {
        foreach (var kind in (GroupRecordKind[])[GroupRecordKind.ConsumerGroupCurrentMemberAssignment, GroupRecordKind.ConsumerGroupTargetAssignmentMember, GroupRecordKind.ConsumerGroupMemberMetadata])
        {
            records.Add(new RecordData(ConsumerGroupRecords.MemberKey(kind, group.GroupId, memberId), null, now));
        }

        if (consumer.Members.Remove(memberId, out var member) && member.InstanceId is { } instanceId
            && consumer.StaticMembers.TryGetValue(instanceId, out var holder) && holder == memberId)
        {
            consumer.StaticMembers.Remove(instanceId);
        }

        ComputeTargetAssignment(group, consumer, SubscribedPartitions(consumer, _replicas.Image), records, now);
        UpdateConsumerGroupState(group, consumer, now);
    }

    /// <summary>
    /// Bumps the group epoch and has the assignor compute every member's target for it; the records written are the
    /// group epoch, each target that changed, and the assignment epoch, in Kafka's order.
    /// </summary>
    private void ComputeTargetAssignment(Group group, ConsumerGroupData consumer, Dictionary<Guid, int> subscribed, List<RecordData> records, long now)
    {
        consumer.GroupEpoch++;
        consumer.SubscribedPartitions = subscribed;
        var image = _replicas.Image;

        consumer.AssignorName = ChooseAssignor(consumer);
        var members = consumer.Members.Values.Select(m => new AssignorMember(
            m.MemberId,
            SubscribedTopics(m, image).Select(t => t.Id).ToHashSet(),
            consumer.TargetOf(m.MemberId))).ToList();
        var previous = consumer.TargetAssignment;
        consumer.TargetAssignment = ConsumerGroupAssignors.Assign(consumer.AssignorName, members, subscribed);
        consumer.AssignmentEpoch = consumer.GroupEpoch;
        records.Add(new RecordData(ConsumerGroupRecords.GroupKey(GroupRecordKind.ConsumerGroupMetadata, group.GroupId), ConsumerGroupRecords.EpochValue(consumer.GroupEpoch), now));
        foreach (var (memberId, target) in consumer.TargetAssignment)
        {
            if (!previous.TryGetValue(memberId, out var before) || !before.SetEquals(target))
            {
                records.Add(new RecordData(ConsumerGroupRecords.MemberKey(GroupRecordKind.ConsumerGroupTargetAssignmentMember, group.GroupId, memberId), ConsumerGroupRecords.TargetMemberValue(target), now));
            }
        }

        records.Add(new RecordData(ConsumerGroupRecords.GroupKey(GroupRecordKind.ConsumerGroupTargetAssignmentMetadata, group.GroupId), ConsumerGroupRecords.EpochValue(consumer.AssignmentEpoch), now));
        LogConsumerTargetAssignment(group.GroupId, consumer.GroupEpoch, consumer.AssignorName, consumer.Members.Count);
    }

    /// <summary>The assignor most members ask for (ties: the configured order), else the first configured one.</summary>
    private string ChooseAssignor(ConsumerGroupData consumer)
    {
        var configured = _options.GroupConsumerAssignors.ToList();
        return consumer.Members.Values.Select(m => m.ServerAssignor).OfType<string>()
            .GroupBy(a => a, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).ThenBy(g => configured.IndexOf(g.Key))
            .Select(g => g.Key).FirstOrDefault() ?? configured[0];
    }

    /// <summary>The partition count of every topic some member subscribes to.</summary>
    private static Dictionary<Guid, int> SubscribedPartitions(ConsumerGroupData consumer, MetadataImage image)
    {
        var result = new Dictionary<Guid, int>();
        foreach (var member in consumer.Members.Values)
        {
            foreach (var topic in SubscribedTopics(member, image))
            {
                result[topic.Id] = topic.Partitions.Count;
            }
        }

        return result;
    }

    private static IEnumerable<TopicImage> SubscribedTopics(ConsumerMember member, MetadataImage image)
    {
        if (member.TopicRegex is null)
        {
            return member.SubscribedTopicNames.Select(n => image.TopicsByName.GetValueOrDefault(n)).OfType<TopicImage>();
        }

        return image.TopicsByName.Values.Where(t => member.SubscribesTo(t.Name));
    }

    private static bool SameCounts(Dictionary<Guid, int> a, Dictionary<Guid, int> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var count) && count == kv.Value);

    /// <summary>The classic state a consumer group stands in for the checks they share (Stable with members, Empty without).</summary>
    private static void UpdateConsumerGroupState(Group group, ConsumerGroupData consumer, long now)
    {
        var state = consumer.Members.Count > 0 ? GroupState.Stable : GroupState.Empty;
        if (group.State != state)
        {
            group.TransitionTo(state, now);
        }
    }

    /// <summary>Session and revocation deadlines of a consumer group's members. Called with the group's lock held.</summary>
    private void OnConsumerTick(Group group, ConsumerGroupData consumer, long now)
    {
        var records = new List<RecordData>();
        foreach (var member in consumer.Members.Values.ToList())
        {
            if (member.SessionDeadlineMs <= now)
            {
                LogConsumerSessionExpired(group.GroupId, member.MemberId, _options.GroupConsumerSessionTimeoutMs);
                RemoveConsumerMember(group, consumer, member.MemberId, records, now);
            }
            else if (member.State == ConsumerMemberState.UnrevokedPartitions && member.RevocationDeadlineMs <= now)
            {
                LogConsumerRevocationExpired(group.GroupId, member.MemberId, member.RebalanceTimeoutMs);
                RemoveConsumerMember(group, consumer, member.MemberId, records, now);
            }
        }

        if (records.Count > 0 && Append(group, records) is not ErrorCode.None and var error)
        {
            LogConsumerRecordsFailed(group.GroupId, error);
        }
    }

    /// <summary>
    /// Kafka's check of a commit or fetch naming a consumer group member: an admin (epoch below 0, no member) may
    /// commit only while the group is empty; otherwise the member must exist and be at its current epoch.
    /// </summary>
    private static ErrorCode ValidateConsumerMemberEpoch(ConsumerGroupData consumer, string? memberId, int memberEpoch, bool adminAllowed)
    {
        if (memberEpoch < 0 && adminAllowed)
        {
            return ErrorCode.None;
        }

        if (memberId is null || !consumer.Members.TryGetValue(memberId, out var member))
        {
            return ErrorCode.UnknownMemberId;
        }

        return memberEpoch == member.Epoch ? ErrorCode.None : ErrorCode.StaleMemberEpoch;
    }

    /// <summary>ConsumerGroupDescribe (KIP-848): a consumer group's epochs, assignor and members with their current and target assignments.</summary>
    public ConsumerGroupDescribeResponse.DescribedGroup DescribeConsumerGroup(string groupId, int authorizedOperations)
    {
        var described = new ConsumerGroupDescribeResponse.DescribedGroup { GroupId = groupId, AuthorizedOperations = authorizedOperations };
        if (groupId.Length == 0)
        {
            described.ErrorCode = (short)ErrorCode.InvalidGroupId;
            described.ErrorMessage = "GroupId can't be empty.";
            return described;
        }

        var coordinatorError = CheckCoordinator(groupId, out _);
        if (coordinatorError != ErrorCode.None)
        {
            described.ErrorCode = (short)coordinatorError;
            return described;
        }

        var group = TryGetGroup(groupId);
        if (group is null)
        {
            described.ErrorCode = (short)ErrorCode.GroupIdNotFound;
            described.ErrorMessage = $"Group {groupId} not found.";
            return described;
        }

        lock (group.Sync)
        {
            if (!group.Owner.IsServing)
            {
                described.ErrorCode = (short)ErrorCode.NotCoordinator;
                return described;
            }

            if (group.State == GroupState.Dead || group.Consumer is not { } consumer)
            {
                described.ErrorCode = (short)ErrorCode.GroupIdNotFound;
                described.ErrorMessage = group.State == GroupState.Dead ? $"Group {groupId} not found." : $"Group {groupId} is not a consumer group.";
                return described;
            }

            var image = _replicas.Image;
            described.GroupState = consumer.StateName;
            described.GroupEpoch = consumer.GroupEpoch;
            described.AssignmentEpoch = consumer.AssignmentEpoch;
            described.AssignorName = consumer.AssignorName;
            foreach (var member in consumer.Members.Values.OrderBy(m => m.MemberId, StringComparer.Ordinal))
            {
                described.Members.Add(new ConsumerGroupDescribeResponse.Member
                {
                    MemberId = member.MemberId,
                    InstanceId = member.InstanceId,
                    RackId = member.RackId,
                    MemberEpoch = member.Epoch,
                    ClientId = member.ClientId,
                    ClientHost = member.ClientHost,
                    SubscribedTopicNames = [.. member.SubscribedTopicNames],
                    SubscribedTopicRegex = member.SubscribedTopicRegex,
                    Assignment = DescribedAssignment(member.Assigned, image),
                    TargetAssignment = DescribedAssignment(consumer.TargetOf(member.MemberId), image),
                });
            }
        }

        return described;
    }

    private static ConsumerGroupDescribeResponse.Assignment DescribedAssignment(IEnumerable<TopicIdPartition> partitions, MetadataImage image) => new()
    {
        TopicPartitions = [.. partitions.GroupBy(tp => tp.TopicId).OrderBy(g => g.Key).Select(g => new ConsumerGroupDescribeResponse.TopicPartitions
        {
            TopicId = g.Key,
            TopicName = image.TopicsById.TryGetValue(g.Key, out var topic) ? topic.Name : "",
            Partitions = [.. g.Select(tp => tp.Partition).Order()],
        })],
    };

    [LoggerMessage(EventName = "ConsumerRecordsFailed", Level = LogLevel.Warning, Message = "Consumer group {GroupId}: its records could not be written to __consumer_offsets: {Error}")]
    private partial void LogConsumerRecordsFailed(string groupId, ErrorCode error);

    [LoggerMessage(EventName = "ConsumerMemberJoined", Level = LogLevel.Information, Message = "Consumer group {GroupId}: member {MemberId} (client {ClientId}) joined")]
    private partial void LogConsumerMemberJoined(string groupId, string memberId, string clientId);

    [LoggerMessage(EventName = "ConsumerMemberLeft", Level = LogLevel.Information, Message = "Consumer group {GroupId}: member {MemberId} left")]
    private partial void LogConsumerMemberLeft(string groupId, string memberId);

    [LoggerMessage(EventName = "ConsumerTargetAssignment", Level = LogLevel.Information, Message = "Consumer group {GroupId}: epoch {GroupEpoch}, target assignment by {Assignor} for {Members} member(s)")]
    private partial void LogConsumerTargetAssignment(string groupId, int groupEpoch, string assignor, int members);

    [LoggerMessage(EventName = "ConsumerSessionExpired", Level = LogLevel.Information, Message = "Consumer group {GroupId}: member {MemberId} sent no heartbeat for {SessionTimeoutMs} ms; removing it")]
    private partial void LogConsumerSessionExpired(string groupId, string memberId, int sessionTimeoutMs);

    [LoggerMessage(EventName = "ConsumerRevocationExpired", Level = LogLevel.Information, Message = "Consumer group {GroupId}: member {MemberId} did not revoke its partitions within {RebalanceTimeoutMs} ms; removing it")]
    private partial void LogConsumerRevocationExpired(string groupId, string memberId, int rebalanceTimeoutMs);
}
