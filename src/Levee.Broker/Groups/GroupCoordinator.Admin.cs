using Levee.Protocol;
using Levee.Protocol.Messages;
using Levee.Protocol.Records;
using Levee.Storage;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Groups;

public sealed partial class GroupCoordinator
{
    /// <summary>
    /// DescribeGroups: state, protocol and members; member metadata and assignments only when Stable, as Kafka.
    /// <paramref name="authorizedOperations"/> is the sender's bit field, when asked for (else Kafka's INT32_MIN).
    /// </summary>
    public DescribeGroupsResponse.DescribedGroup Describe(string groupId, int authorizedOperations)
    {
        var described = new DescribeGroupsResponse.DescribedGroup
        {
            GroupId = groupId,
            GroupState = nameof(GroupState.Dead),
            AuthorizedOperations = authorizedOperations,
        };
        var coordinatorError = CheckCoordinator(groupId, out _);
        if (coordinatorError != ErrorCode.None)
        {
            described.ErrorCode = (short)coordinatorError;
            described.GroupState = "";
            return described;
        }

        var group = TryGetGroup(groupId);
        if (group is null)
        {
            return described;
        }

        lock (group.Sync)
        {
            if (!group.Owner.IsServing)
            {
                described.ErrorCode = (short)ErrorCode.NotCoordinator;
                described.GroupState = "";
                return described;
            }

            if (group.Consumer is not null)
            {
                // A consumer group (KIP-848) is not described by the classic API: Kafka reports it Dead there.
                return described;
            }

            described.GroupState = group.State.ToString();
            described.ProtocolType = group.ProtocolType ?? "";
            var stable = group.State == GroupState.Stable;
            described.ProtocolData = stable ? group.ProtocolName ?? "" : "";
            foreach (var member in group.Members)
            {
                described.Members.Add(new DescribeGroupsResponse.DescribedGroupMember
                {
                    MemberId = member.MemberId,
                    GroupInstanceId = member.GroupInstanceId,
                    ClientId = member.ClientId,
                    ClientHost = member.ClientHost,
                    MemberMetadata = stable ? member.MetadataFor(group.ProtocolName) : [],
                    MemberAssignment = stable ? member.Assignment : [],
                });
            }
        }

        return described;
    }

    /// <summary>
    /// ListGroups: every live group this broker coordinates, filtered by state (v4+, case-insensitive) and type
    /// (v5+: "classic", or "consumer" for KIP-848 groups). As in Kafka, COORDINATOR_LOAD_IN_PROGRESS while a partition it leads is
    /// still loading (clients ask every broker and merge).
    /// </summary>
    public (ErrorCode Error, List<ListGroupsResponse.ListedGroup> Groups) ListGroups(IReadOnlyCollection<string> statesFilter, IReadOnlyCollection<string> typesFilter)
    {
        ArgumentNullException.ThrowIfNull(statesFilter);
        ArgumentNullException.ThrowIfNull(typesFilter);
        var listed = new List<ListGroupsResponse.ListedGroup>();
        lock (_ownershipLock)
        {
            if (_owned.Values.Any(o => !o.IsLoaded))
            {
                return (ErrorCode.CoordinatorLoadInProgress, listed);
            }
        }

        foreach (var group in _groups.Values)
        {
            lock (group.Sync)
            {
                if (!group.Owner.IsServing || group.State == GroupState.Dead)
                {
                    continue;
                }

                var state = group.StateName;
                if ((statesFilter.Count > 0 && !statesFilter.Contains(state, StringComparer.OrdinalIgnoreCase))
                    || (typesFilter.Count > 0 && !typesFilter.Contains(group.GroupType, StringComparer.OrdinalIgnoreCase)))
                {
                    continue;
                }

                listed.Add(new ListGroupsResponse.ListedGroup { GroupId = group.GroupId, ProtocolType = group.ProtocolType ?? "", GroupState = state, GroupType = group.GroupType });
            }
        }

        return (ErrorCode.None, listed);
    }

    /// <summary>
    /// Every live group this broker coordinates, with its committed offsets: what the admin API and <c>/metrics</c>
    /// compute consumer lag from.
    /// </summary>
    public IReadOnlyList<GroupOffsets> CommittedOffsets()
    {
        var result = new List<GroupOffsets>();
        foreach (var group in _groups.Values)
        {
            lock (group.Sync)
            {
                if (!group.Owner.IsServing || group.State == GroupState.Dead)
                {
                    continue;
                }

                var offsets = group.Offsets.Select(o => (o.Key, o.Value.Offset)).OrderBy(o => o.Key.Topic, StringComparer.Ordinal).ThenBy(o => o.Key.Partition).ToList();
                result.Add(new GroupOffsets(group.GroupId, group.StateName, group.ProtocolType ?? "", group.MemberCount, offsets));
            }
        }

        return result;
    }

    /// <summary>DeleteGroups: an empty group's offsets and metadata are tombstoned and the group removed.</summary>
    public async ValueTask<ErrorCode> DeleteGroupAsync(string groupId, CancellationToken cancellationToken)
    {
        var coordinatorError = CheckCoordinator(groupId, out _);
        if (coordinatorError != ErrorCode.None)
        {
            return coordinatorError;
        }

        var group = TryGetGroup(groupId);
        if (group is null)
        {
            return ErrorCode.GroupIdNotFound;
        }

        lock (group.Sync)
        {
            var now = NowMs;
            if (!group.Owner.IsServing)
            {
                return ErrorCode.NotCoordinator;
            }

            switch (group.State)
            {
                case GroupState.Dead:
                    return ErrorCode.GroupIdNotFound;
                case GroupState.Empty:
                    break;
                default:
                    return ErrorCode.NonEmptyGroup;
            }

            // Offsets of open transactions get tombstones too, so that neither a reload nor compaction brings them back.
            var records = group.Offsets.Keys
                .Union(group.PendingTransactionalOffsets.Values.SelectMany(p => p.Keys))
                .Select(tp => new RecordData(GroupRecords.OffsetCommitKey(group.GroupId, tp.Topic, tp.Partition), null, now))
                .Concat(GroupTombstones(group, now))
                .ToList();
            var error = Append(group, records);
            if (error != ErrorCode.None)
            {
                return error;
            }

            group.Offsets.Clear();
            group.PendingTransactionalOffsets.Clear();
            RemoveGroup(group, now);
            LogGroupDeleted(groupId);
        }

        // The tombstones are acknowledged once the ISR has them.
        return await WaitForWrittenAsync(group, cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(EventName = "GroupDeleted", Level = LogLevel.Information, Message = "Group {GroupId} deleted")]
    private partial void LogGroupDeleted(string groupId);
}

/// <summary>A group this broker coordinates and the offsets it committed.</summary>
/// <param name="GroupId">The group id.</param>
/// <param name="State">Its state (Empty, Stable, PreparingRebalance, ...).</param>
/// <param name="ProtocolType">Its protocol type (consumer for Kafka consumers).</param>
/// <param name="Members">How many members it has.</param>
/// <param name="Offsets">Its committed offset per partition.</param>
public sealed record GroupOffsets(string GroupId, string State, string ProtocolType, int Members, IReadOnlyList<(TopicPartition Partition, long Offset)> Offsets);
