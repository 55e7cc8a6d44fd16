using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    /// <summary>Heartbeat: keeps the member's session alive and tells it when a rebalance needs it to rejoin.</summary>
    public ErrorCode Heartbeat(HeartbeatRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.GroupId.Length == 0)
        {
            return ErrorCode.InvalidGroupId;
        }

        var coordinatorError = CheckCoordinator(request.GroupId, out _);
        if (coordinatorError != ErrorCode.None)
        {
            return coordinatorError;
        }

        var group = TryGetGroup(request.GroupId);
        if (group is null)
        {
            return ErrorCode.UnknownMemberId;
        }

        lock (group.Sync)
        {
            if (!group.Owner.IsServing)
            {
                return ErrorCode.NotCoordinator;
            }

            if (group.State == GroupState.Dead)
            {
                return ErrorCode.CoordinatorNotAvailable;
            }

            var error = ValidateMember(group, request.MemberId, request.GroupInstanceId);
            if (error != ErrorCode.None)
            {
                return error;
            }

            if (request.GenerationId != group.GenerationId)
            {
                return ErrorCode.IllegalGeneration;
            }

            var member = group.Get(request.MemberId)!;
            switch (group.State)
            {
                case GroupState.CompletingRebalance:
                case GroupState.Stable:
                    member.SessionDeadlineMs = NowMs + member.SessionTimeoutMs;
                    return ErrorCode.None;
                case GroupState.PreparingRebalance:
                    member.SessionDeadlineMs = NowMs + member.SessionTimeoutMs;
                    return ErrorCode.RebalanceInProgress;
                default:
                    return ErrorCode.UnknownMemberId;
            }
        }
    }

    /// <summary>LeaveGroup: removes members (v3+: a batch, by member id or group.instance.id, KIP-345).</summary>
    public LeaveGroupResponse LeaveGroup(LeaveGroupRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var identities = version >= 3 ? request.Members : [new LeaveGroupRequest.MemberIdentity { MemberId = request.MemberId }];
        var response = new LeaveGroupResponse();
        if (request.GroupId.Length == 0)
        {
            response.ErrorCode = (short)ErrorCode.InvalidGroupId;
            return response;
        }

        var coordinatorError = CheckCoordinator(request.GroupId, out _);
        if (coordinatorError != ErrorCode.None)
        {
            response.ErrorCode = (short)coordinatorError;
            return response;
        }

        var group = TryGetGroup(request.GroupId);
        if (group is null)
        {
            foreach (var identity in identities)
            {
                response.Members.Add(new LeaveGroupResponse.MemberResponse { MemberId = identity.MemberId, GroupInstanceId = identity.GroupInstanceId, ErrorCode = (short)ErrorCode.UnknownMemberId });
            }

            return response;
        }

        lock (group.Sync)
        {
            var now = NowMs;
            if (!group.Owner.IsServing)
            {
                response.ErrorCode = (short)ErrorCode.NotCoordinator;
                return response;
            }

            if (group.State == GroupState.Dead)
            {
                response.ErrorCode = (short)ErrorCode.CoordinatorNotAvailable;
                return response;
            }

            foreach (var identity in identities)
            {
                var error = LeaveOne(group, identity, now);
                response.Members.Add(new LeaveGroupResponse.MemberResponse { MemberId = identity.MemberId, GroupInstanceId = identity.GroupInstanceId, ErrorCode = (short)error });
            }
        }

        return response;
    }

    private ErrorCode LeaveOne(Group group, LeaveGroupRequest.MemberIdentity identity, long now)
    {
        string memberId;
        if (identity.GroupInstanceId is { } instanceId)
        {
            if (!group.StaticMembers.TryGetValue(instanceId, out var registered))
            {
                return ErrorCode.UnknownMemberId;
            }

            // An empty member id (UNKNOWN_MEMBER_ID) removes whoever holds the instance id: the admin case.
            if (identity.MemberId.Length > 0 && identity.MemberId != registered)
            {
                return ErrorCode.FencedInstanceId;
            }

            memberId = registered;
        }
        else if (group.PendingMembers.Remove(identity.MemberId))
        {
            TryCompleteJoin(group, now);
            return ErrorCode.None;
        }
        else
        {
            memberId = identity.MemberId;
        }

        var member = group.Get(memberId);
        if (member is null)
        {
            return ErrorCode.UnknownMemberId;
        }

        LogMemberLeft(group.GroupId, memberId);
        RemoveMemberAndUpdateGroup(group, member, now);
        return ErrorCode.None;
    }

    /// <summary>Removes a member (left or expired) and rebalances, or completes the join phase it was holding up.</summary>
    private void RemoveMemberAndUpdateGroup(Group group, Member member, long now)
    {
        member.AwaitingJoin?.TrySetResult(JoinError(member.MemberId, ErrorCode.UnknownMemberId));
        member.AwaitingJoin = null;
        member.AwaitingSync?.TrySetResult(SyncError(ErrorCode.UnknownMemberId));
        member.AwaitingSync = null;
        group.Remove(member.MemberId);
        switch (group.State)
        {
            case GroupState.Stable:
            case GroupState.CompletingRebalance:
                PrepareRebalance(group, now);
                break;
            case GroupState.PreparingRebalance:
                TryCompleteJoin(group, now);
                break;
            default:
                break;
        }
    }

    [LoggerMessage(EventName = "MemberLeft", Level = LogLevel.Information, Message = "Group {GroupId}: member {MemberId} left")]
    private partial void LogMemberLeft(string groupId, string memberId);
}
