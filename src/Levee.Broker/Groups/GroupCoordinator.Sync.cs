using Levee.Protocol;
using Levee.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    /// <summary>
    /// SyncGroup: followers wait for the leader's assignment; the leader's assignment is written to
    /// __consumer_offsets, then handed to every member and the group becomes Stable.
    /// </summary>
    public async ValueTask<SyncGroupResponse> SyncGroupAsync(SyncGroupRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.GroupId.Length == 0)
        {
            return SyncError(ErrorCode.InvalidGroupId);
        }

        if (_shuttingDown)
        {
            return SyncError(ErrorCode.NotCoordinator);
        }

        var coordinatorError = CheckCoordinator(request.GroupId, out _);
        if (coordinatorError != ErrorCode.None)
        {
            return SyncError(coordinatorError);
        }

        var group = TryGetGroup(request.GroupId);
        if (group is null)
        {
            return SyncError(ErrorCode.UnknownMemberId);
        }

        var sync = new TaskCompletionSource<SyncGroupResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        SyncGroupResponse? immediate = null;
        lock (group.Sync)
        {
            var now = NowMs;
            if (!group.Owner.IsServing)
            {
                return SyncError(ErrorCode.NotCoordinator);
            }

            if (group.State == GroupState.Dead)
            {
                return SyncError(ErrorCode.CoordinatorNotAvailable);
            }

            var error = ValidateMember(group, request.MemberId, request.GroupInstanceId);
            if (error != ErrorCode.None)
            {
                return SyncError(error);
            }

            if (request.GenerationId != group.GenerationId)
            {
                return SyncError(ErrorCode.IllegalGeneration);
            }

            // v5 (KIP-559): the client states the protocol it thinks the group uses.
            if ((request.ProtocolType is not null && request.ProtocolType != group.ProtocolType) ||
                (request.ProtocolName is not null && request.ProtocolName != group.ProtocolName))
            {
                return SyncError(ErrorCode.InconsistentGroupProtocol);
            }

            var member = group.Get(request.MemberId)!;
            switch (group.State)
            {
                case GroupState.PreparingRebalance:
                    return SyncError(ErrorCode.RebalanceInProgress);
                case GroupState.Stable:
                    group.PendingSyncMembers.Remove(member.MemberId);
                    member.SessionDeadlineMs = now + member.SessionTimeoutMs;
                    immediate = SyncResult(group, member.Assignment);
                    break;
                case GroupState.CompletingRebalance:
                    group.PendingSyncMembers.Remove(member.MemberId);
                    member.SessionDeadlineMs = now + member.SessionTimeoutMs;
                    member.AwaitingSync?.TrySetResult(SyncError(ErrorCode.RebalanceInProgress));
                    member.AwaitingSync = sync;
                    if (group.IsLeader(member.MemberId))
                    {
                        CompleteSync(group, request, now);
                    }

                    break;
                default:
                    return SyncError(ErrorCode.UnknownMemberId);
            }
        }

        var response = immediate ?? await sync.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (response.ErrorCode != 0)
        {
            return response;
        }

        // The assignment is handed out only once the ISR has the group's record (Kafka's acks=all for the group).
        var written = await WaitForWrittenAsync(group, cancellationToken).ConfigureAwait(false);
        return written == ErrorCode.None ? response : SyncError(written);
    }

    private void CompleteSync(Group group, SyncGroupRequest request, long now)
    {
        // Members the leader left out get an empty assignment; ids that are not members are ignored.
        var assignments = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var a in request.Assignments)
        {
            assignments[a.MemberId] = a.Assignment;
        }

        foreach (var member in group.Members)
        {
            member.Assignment = assignments.TryGetValue(member.MemberId, out var assignment) ? assignment : [];
        }

        var error = StoreGroup(group, now);
        if (error != ErrorCode.None)
        {
            ResetAndPropagateAssignmentError(group, error, now);
            MaybePrepareRebalance(group, now);
            return;
        }

        foreach (var member in group.Members)
        {
            member.AwaitingSync?.TrySetResult(SyncResult(group, member.Assignment));
            member.AwaitingSync = null;
            member.SessionDeadlineMs = now + member.SessionTimeoutMs;
        }

        group.TransitionTo(GroupState.Stable, now);
        if (group.PendingSyncMembers.Count == 0)
        {
            group.SyncDeadlineMs = long.MaxValue;
        }

        LogStable(group.GroupId, group.GenerationId);
    }

    /// <summary>Answers every parked SyncGroup with <paramref name="error"/> and drops the assignment.</summary>
    private static void ResetAndPropagateAssignmentError(Group group, ErrorCode error, long now)
    {
        foreach (var member in group.Members)
        {
            member.Assignment = [];
            if (member.AwaitingSync is { } sync)
            {
                sync.TrySetResult(SyncError(error));
                member.AwaitingSync = null;
                member.SessionDeadlineMs = now + member.SessionTimeoutMs;
            }
        }
    }

    /// <summary>Members that got a JoinGroup response but never synced within the rebalance timeout are removed (KAFKA-13216).</summary>
    private void OnSyncDeadline(Group group, long now)
    {
        group.SyncDeadlineMs = long.MaxValue;
        if (group.PendingSyncMembers.Count == 0)
        {
            return;
        }

        foreach (var memberId in group.PendingSyncMembers.ToList())
        {
            LogPendingSyncExpired(group.GroupId, memberId);
            var member = group.Get(memberId);
            if (member is not null)
            {
                member.AwaitingJoin?.TrySetResult(JoinError(memberId, ErrorCode.UnknownMemberId));
                member.AwaitingSync?.TrySetResult(SyncError(ErrorCode.UnknownMemberId));
            }

            group.Remove(memberId);
        }

        group.PendingSyncMembers.Clear();
        PrepareRebalance(group, now);
    }

    private static SyncGroupResponse SyncResult(Group group, byte[] assignment) => new()
    {
        ProtocolType = group.ProtocolType,
        ProtocolName = group.ProtocolName,
        Assignment = assignment,
    };

    private static SyncGroupResponse SyncError(ErrorCode error) => new() { ErrorCode = (short)error, Assignment = [] };

    [LoggerMessage(EventName = "Stable", Level = LogLevel.Information, Message = "Group {GroupId}: generation {GenerationId} is stable")]
    private partial void LogStable(string groupId, int generationId);

    [LoggerMessage(EventName = "PendingSyncExpired", Level = LogLevel.Information, Message = "Group {GroupId}: member {MemberId} did not send SyncGroup in time; removed")]
    private partial void LogPendingSyncExpired(string groupId, string memberId);
}
