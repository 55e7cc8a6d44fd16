using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    /// <summary>
    /// JoinGroup: admits the member (v4+ dynamic members first get MEMBER_ID_REQUIRED and a member id, KIP-394),
    /// starts or joins a rebalance and completes when the join phase ends: every known member rejoined, or the
    /// rebalance timeout (for an empty group, group.initial.rebalance.delay.ms) expired.
    /// </summary>
    public async ValueTask<JoinGroupResponse> JoinGroupAsync(JoinGroupRequest request, short version, string clientId, string clientHost, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var protocols = request.Protocols.Select(p => (p.Name, p.Metadata)).ToList();
        var rebalanceTimeoutMs = version == 0 ? request.SessionTimeoutMs : request.RebalanceTimeoutMs;
        if (request.GroupId.Length == 0)
        {
            return JoinError(request.MemberId, ErrorCode.InvalidGroupId);
        }

        if (request.SessionTimeoutMs < _options.GroupMinSessionTimeoutMs || request.SessionTimeoutMs > _options.GroupMaxSessionTimeoutMs)
        {
            return JoinError(request.MemberId, ErrorCode.InvalidSessionTimeout);
        }

        if (_shuttingDown)
        {
            return JoinError(request.MemberId, ErrorCode.NotCoordinator);
        }

        if (!await TryEnsureOffsetsTopicAsync(cancellationToken).ConfigureAwait(false))
        {
            return JoinError(request.MemberId, ErrorCode.CoordinatorNotAvailable);
        }

        var coordinatorError = CheckCoordinator(request.GroupId, out var owner);
        if (coordinatorError != ErrorCode.None || owner is null)
        {
            return JoinError(request.MemberId, owner is null && coordinatorError == ErrorCode.None ? ErrorCode.CoordinatorNotAvailable : coordinatorError);
        }

        var isUnknownMember = request.MemberId.Length == 0;
        var join = new TaskCompletionSource<JoinGroupResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        while (true)
        {
            var group = isUnknownMember ? GetOrCreateGroup(request.GroupId, owner) : TryGetGroup(request.GroupId);
            if (group is null)
            {
                return JoinError(request.MemberId, owner.IsServing ? ErrorCode.UnknownMemberId : ErrorCode.NotCoordinator);
            }

            JoinGroupResponse? immediate;
            lock (group.Sync)
            {
                var now = NowMs;
                if (!group.Owner.IsServing)
                {
                    return JoinError(request.MemberId, ErrorCode.NotCoordinator);
                }

                if (group.State == GroupState.Dead)
                {
                    if (isUnknownMember)
                    {
                        // Deleted while we looked it up: a fresh group takes its place.
                        continue;
                    }

                    return JoinError(request.MemberId, ErrorCode.CoordinatorNotAvailable);
                }

                if (group.Consumer is { } consumerGroup)
                {
                    // A consumer group (KIP-848) with members takes no classic member; an empty one becomes classic,
                    // its consumer group records tombstoned so that a load does not bring it back.
                    if (consumerGroup.Members.Count > 0)
                    {
                        return JoinError(request.MemberId, ErrorCode.InconsistentGroupProtocol);
                    }

                    var tombstoned = Append(group, [.. GroupTombstones(group, now)]);
                    if (tombstoned != ErrorCode.None)
                    {
                        return JoinError(request.MemberId, tombstoned);
                    }

                    group.Consumer = null;
                }

                if (!group.SupportsProtocols(request.ProtocolType, protocols))
                {
                    return JoinError(request.MemberId, ErrorCode.InconsistentGroupProtocol);
                }

                immediate = isUnknownMember
                    ? JoinNewMember(group, request, version, protocols, rebalanceTimeoutMs, clientId, clientHost, join, now)
                    : JoinKnownMember(group, request, version, protocols, rebalanceTimeoutMs, clientId, clientHost, join, now);
                if (immediate is null)
                {
                    TryCompleteJoin(group, now);
                }
            }

            if (immediate is not null)
            {
                // A replaced static member's group was just written: answer once the ISR has it.
                var written = immediate.ErrorCode == 0 ? await WaitForWrittenAsync(group, cancellationToken).ConfigureAwait(false) : ErrorCode.None;
                return written == ErrorCode.None ? immediate : JoinError(immediate.MemberId, written);
            }

            break;
        }

        return await join.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private JoinGroupResponse? JoinNewMember(Group group, JoinGroupRequest request, short version, List<(string Name, byte[] Metadata)> protocols, int rebalanceTimeoutMs, string clientId, string clientHost, TaskCompletionSource<JoinGroupResponse> join, long now)
    {
        if (group.Members.Count >= _options.GroupMaxSize)
        {
            return JoinError(request.MemberId, ErrorCode.GroupMaxSizeReached);
        }

        var newMemberId = (request.GroupInstanceId ?? clientId) + "-" + Guid.NewGuid().ToString();
        if (request.GroupInstanceId is { } instanceId)
        {
            if (group.StaticMembers.TryGetValue(instanceId, out var oldMemberId))
            {
                return ReplaceStaticMember(group, oldMemberId, newMemberId, request, version, protocols, rebalanceTimeoutMs, clientId, clientHost, join, now);
            }

            AddMemberAndRebalance(group, newMemberId, request, protocols, rebalanceTimeoutMs, clientId, clientHost, join, now);
            return null;
        }

        if (version >= 4)
        {
            // KIP-394: hand out the id first, so a client that times out and retries does not leave a ghost member.
            group.PendingMembers[newMemberId] = now + request.SessionTimeoutMs;
            return JoinError(newMemberId, ErrorCode.MemberIdRequired);
        }

        AddMemberAndRebalance(group, newMemberId, request, protocols, rebalanceTimeoutMs, clientId, clientHost, join, now);
        return null;
    }

    private JoinGroupResponse? JoinKnownMember(Group group, JoinGroupRequest request, short version, List<(string Name, byte[] Metadata)> protocols, int rebalanceTimeoutMs, string clientId, string clientHost, TaskCompletionSource<JoinGroupResponse> join, long now)
    {
        var memberId = request.MemberId;
        if (group.PendingMembers.ContainsKey(memberId))
        {
            AddMemberAndRebalance(group, memberId, request, protocols, rebalanceTimeoutMs, clientId, clientHost, join, now);
            return null;
        }

        var error = ValidateMember(group, memberId, request.GroupInstanceId);
        if (error != ErrorCode.None)
        {
            return JoinError(memberId, error);
        }

        var member = group.Get(memberId)!;
        switch (group.State)
        {
            case GroupState.PreparingRebalance:
                UpdateMemberAndRebalance(group, member, protocols, rebalanceTimeoutMs, request.SessionTimeoutMs, join, now);
                return null;
            case GroupState.CompletingRebalance:
                if (member.Matches(protocols))
                {
                    // A retried JoinGroup of this generation: answer it again.
                    return CurrentGenerationResponse(group, member, includeMembers: group.IsLeader(memberId));
                }

                UpdateMemberAndRebalance(group, member, protocols, rebalanceTimeoutMs, request.SessionTimeoutMs, join, now);
                return null;
            case GroupState.Stable:
                if (group.IsLeader(memberId) || !member.Matches(protocols))
                {
                    // The leader rejoining (e.g. its subscription's metadata changed) or changed protocols: rebalance.
                    UpdateMemberAndRebalance(group, member, protocols, rebalanceTimeoutMs, request.SessionTimeoutMs, join, now);
                    return null;
                }

                member.SessionDeadlineMs = now + member.SessionTimeoutMs;
                return CurrentGenerationResponse(group, member, includeMembers: false);
            default:
                return JoinError(memberId, ErrorCode.UnknownMemberId);
        }
    }

    private void AddMemberAndRebalance(Group group, string memberId, JoinGroupRequest request, List<(string Name, byte[] Metadata)> protocols, int rebalanceTimeoutMs, string clientId, string clientHost, TaskCompletionSource<JoinGroupResponse> join, long now)
    {
        var member = new Member(memberId, request.GroupInstanceId, clientId, clientHost, rebalanceTimeoutMs, request.SessionTimeoutMs, request.ProtocolType, protocols)
        {
            IsNew = true,
            AwaitingJoin = join,
            SessionDeadlineMs = now + NewMemberJoinTimeoutMs,
        };

        // A member arriving during the first rebalance of a new group extends the initial delay (KIP-134).
        if (group.State == GroupState.PreparingRebalance && group.GenerationId == 0)
        {
            group.NewMemberAdded = true;
        }

        group.Add(member);
        LogMemberJoined(group.GroupId, memberId, request.GroupInstanceId);
        MaybePrepareRebalance(group, now);
    }

    private void UpdateMemberAndRebalance(Group group, Member member, List<(string Name, byte[] Metadata)> protocols, int rebalanceTimeoutMs, int sessionTimeoutMs, TaskCompletionSource<JoinGroupResponse> join, long now)
    {
        member.Protocols = protocols;
        member.RebalanceTimeoutMs = rebalanceTimeoutMs;
        member.SessionTimeoutMs = sessionTimeoutMs;
        member.AwaitingJoin?.TrySetResult(JoinError(member.MemberId, ErrorCode.RebalanceInProgress));
        member.AwaitingJoin = join;
        member.SessionDeadlineMs = now + sessionTimeoutMs;
        MaybePrepareRebalance(group, now);
    }

    /// <summary>
    /// KIP-345: a static member rejoining with an unknown member id replaces its previous incarnation, which is
    /// fenced (its parked requests answer FENCED_INSTANCE_ID). A stable group whose protocol would not change
    /// keeps its generation and assignment: no rebalance for a restarted static member.
    /// </summary>
    private JoinGroupResponse? ReplaceStaticMember(Group group, string oldMemberId, string newMemberId, JoinGroupRequest request, short version, List<(string Name, byte[] Metadata)> protocols, int rebalanceTimeoutMs, string clientId, string clientHost, TaskCompletionSource<JoinGroupResponse> join, long now)
    {
        var old = group.Get(oldMemberId)!;
        var previousLeader = group.LeaderId;
        old.AwaitingJoin?.TrySetResult(JoinError(oldMemberId, ErrorCode.FencedInstanceId));
        old.AwaitingJoin = null;
        old.AwaitingSync?.TrySetResult(new SyncGroupResponse { ErrorCode = (short)ErrorCode.FencedInstanceId });
        old.AwaitingSync = null;

        var member = new Member(newMemberId, request.GroupInstanceId, clientId, clientHost, rebalanceTimeoutMs, request.SessionTimeoutMs, request.ProtocolType, protocols)
        {
            Assignment = old.Assignment,
            AwaitingJoin = join,
            SessionDeadlineMs = now + request.SessionTimeoutMs,
        };
        group.Members[group.Members.IndexOf(old)] = member;
        group.StaticMembers[request.GroupInstanceId!] = newMemberId;
        if (group.LeaderId == oldMemberId)
        {
            group.LeaderId = newMemberId;
        }

        if (group.PendingSyncMembers.Remove(oldMemberId))
        {
            group.PendingSyncMembers.Add(newMemberId);
        }

        LogStaticMemberReplaced(group.GroupId, request.GroupInstanceId!, oldMemberId, newMemberId);
        switch (group.State)
        {
            case GroupState.Stable when group.SelectProtocol() == group.ProtocolName:
                var error = StoreGroup(group, now);
                if (error != ErrorCode.None)
                {
                    member.AwaitingJoin = null;
                    return JoinError(newMemberId, error);
                }

                member.AwaitingJoin = null;
                var isLeader = group.IsLeader(newMemberId);
                var response = CurrentGenerationResponse(group, member, includeMembers: isLeader && version >= 9);

                // The leader keeps its assignment: from v9 it is told to skip assigning (KIP-814); before, it is
                // told the leader is its previous incarnation, so it acts as a follower.
                response.SkipAssignment = isLeader && version >= 9;
                response.Leader = version >= 9 ? group.LeaderId ?? "" : previousLeader ?? "";
                return response;
            case GroupState.Stable:
            case GroupState.CompletingRebalance:
                // The leader may already have assigned to the old member id: rebalance so the new id gets a share.
                PrepareRebalance(group, now);
                return null;
            default:
                return null;
        }
    }

    private static JoinGroupResponse CurrentGenerationResponse(Group group, Member member, bool includeMembers)
    {
        var response = new JoinGroupResponse
        {
            GenerationId = group.GenerationId,
            ProtocolType = group.ProtocolType,
            ProtocolName = group.ProtocolName,
            Leader = group.LeaderId ?? "",
            MemberId = member.MemberId,
        };
        if (includeMembers)
        {
            response.Members.AddRange(CurrentMemberMetadata(group));
        }

        return response;
    }

    private static IEnumerable<JoinGroupResponse.JoinGroupResponseMember> CurrentMemberMetadata(Group group) =>
        group.Members.Select(m => new JoinGroupResponse.JoinGroupResponseMember
        {
            MemberId = m.MemberId,
            GroupInstanceId = m.GroupInstanceId,
            Metadata = m.MetadataFor(group.ProtocolName),
        });

    private static JoinGroupResponse JoinError(string memberId, ErrorCode error) => new()
    {
        ErrorCode = (short)error,
        MemberId = memberId,
        GenerationId = -1,
        ProtocolName = null,
        Leader = "",
    };

    private void MaybePrepareRebalance(Group group, long now)
    {
        if (group.State is GroupState.Stable or GroupState.CompletingRebalance or GroupState.Empty)
        {
            PrepareRebalance(group, now);
        }
    }

    private void PrepareRebalance(Group group, long now)
    {
        // Members waiting for an assignment of the generation being abandoned must rejoin.
        if (group.State == GroupState.CompletingRebalance)
        {
            ResetAndPropagateAssignmentError(group, ErrorCode.RebalanceInProgress, now);
        }

        group.SyncDeadlineMs = long.MaxValue;
        group.PendingSyncMembers.Clear();
        if (group.State == GroupState.Empty)
        {
            var delay = _options.GroupInitialRebalanceDelayMs;
            group.InInitialDelay = true;
            group.NewMemberAdded = false;
            group.InitialDelayRemainingMs = Math.Max(group.RebalanceTimeoutMs - delay, 0);
            group.JoinDeadlineMs = now + delay;
        }
        else
        {
            group.InInitialDelay = false;
            group.JoinDeadlineMs = now + group.RebalanceTimeoutMs;
        }

        group.TransitionTo(GroupState.PreparingRebalance, now);
        LogPreparingRebalance(group.GroupId, group.GenerationId, group.Members.Count);

        // Like Kafka's DelayedJoin, try at once: a group whose last member just left completes (to Empty) now.
        TryCompleteJoin(group, now);
    }

    /// <summary>Ends the join phase early when every known member has rejoined (never during the initial delay).</summary>
    private void TryCompleteJoin(Group group, long now)
    {
        if (group.State == GroupState.PreparingRebalance && !group.InInitialDelay && group.HasAllMembersJoined)
        {
            CompleteJoin(group, now);
        }
    }

    private void OnJoinDeadline(Group group, long now)
    {
        if (group.InInitialDelay && group.NewMemberAdded && group.InitialDelayRemainingMs > 0)
        {
            group.NewMemberAdded = false;
            var delay = Math.Min(_options.GroupInitialRebalanceDelayMs, group.InitialDelayRemainingMs);
            group.InitialDelayRemainingMs = Math.Max(group.InitialDelayRemainingMs - delay, 0);
            group.JoinDeadlineMs = now + delay;
            return;
        }

        CompleteJoin(group, now);
    }

    private void CompleteJoin(Group group, long now)
    {
        group.InInitialDelay = false;
        group.JoinDeadlineMs = long.MaxValue;

        // Dynamic members that did not rejoin in time are out; static members stay until their session expires.
        foreach (var member in group.Members.Where(m => !m.IsAwaitingJoin && !m.IsStatic).ToList())
        {
            LogMemberDidNotRejoin(group.GroupId, member.MemberId);
            group.Remove(member.MemberId);
        }

        if (!ElectJoinedLeader(group) && group.Members.Count > 0)
        {
            // Only static members that have not rejoined are left: wait for them or for their sessions to end.
            group.JoinDeadlineMs = now + group.RebalanceTimeoutMs;
            return;
        }

        group.GenerationId++;
        group.PendingSyncMembers.Clear();
        if (group.Members.Count == 0)
        {
            group.ProtocolName = null;
            group.SubscribedTopics = null;
            group.TransitionTo(GroupState.Empty, now);
            LogGroupEmpty(group.GroupId, group.GenerationId);
            StoreGroup(group, now);
            return;
        }

        group.ProtocolName = group.SelectProtocol();
        group.ComputeSubscribedTopics();
        group.TransitionTo(GroupState.CompletingRebalance, now);
        LogGenerationStarted(group.GroupId, group.GenerationId, group.ProtocolName, group.LeaderId, group.Members.Count);
        foreach (var member in group.Members)
        {
            var response = CurrentGenerationResponse(group, member, includeMembers: group.IsLeader(member.MemberId));
            member.AwaitingJoin?.TrySetResult(response);
            member.AwaitingJoin = null;
            member.IsNew = false;
            member.SessionDeadlineMs = now + member.SessionTimeoutMs;
            group.PendingSyncMembers.Add(member.MemberId);
        }

        group.SyncDeadlineMs = now + group.RebalanceTimeoutMs;
    }

    /// <summary>Keeps the leader if it rejoined, else picks a member that did; false when none did.</summary>
    private static bool ElectJoinedLeader(Group group)
    {
        if (group.LeaderId is null)
        {
            return false;
        }

        if (group.Get(group.LeaderId) is { IsAwaitingJoin: true })
        {
            return true;
        }

        var joined = group.Members.FirstOrDefault(m => m.IsAwaitingJoin);
        if (joined is null)
        {
            return false;
        }

        group.LeaderId = joined.MemberId;
        return true;
    }

    [LoggerMessage(EventName = "MemberJoined", Level = LogLevel.Information, Message = "Group {GroupId}: member {MemberId} (instance {GroupInstanceId}) joined")]
    private partial void LogMemberJoined(string groupId, string memberId, string? groupInstanceId);

    [LoggerMessage(EventName = "StaticMemberReplaced", Level = LogLevel.Information, Message = "Group {GroupId}: static member {GroupInstanceId} replaced {OldMemberId} with {NewMemberId}")]
    private partial void LogStaticMemberReplaced(string groupId, string groupInstanceId, string oldMemberId, string newMemberId);

    [LoggerMessage(EventName = "PreparingRebalance", Level = LogLevel.Information, Message = "Group {GroupId}: preparing to rebalance (generation {GenerationId}, {Members} member(s))")]
    private partial void LogPreparingRebalance(string groupId, int generationId, int members);

    [LoggerMessage(EventName = "MemberDidNotRejoin", Level = LogLevel.Information, Message = "Group {GroupId}: member {MemberId} did not rejoin in time; removed")]
    private partial void LogMemberDidNotRejoin(string groupId, string memberId);

    [LoggerMessage(EventName = "GroupEmpty", Level = LogLevel.Information, Message = "Group {GroupId}: generation {GenerationId} is empty")]
    private partial void LogGroupEmpty(string groupId, int generationId);

    [LoggerMessage(EventName = "GenerationStarted", Level = LogLevel.Information, Message = "Group {GroupId}: generation {GenerationId} with protocol {Protocol}, leader {LeaderId}, {Members} member(s)")]
    private partial void LogGenerationStarted(string groupId, int generationId, string protocol, string? leaderId, int members);
}
