using Levee.Protocol.Messages;

namespace Levee.Broker.Groups;

/// <summary>One member of a classic group. Guarded by its group's lock.</summary>
internal sealed class Member
{
    public Member(string memberId, string? groupInstanceId, string clientId, string clientHost, int rebalanceTimeoutMs, int sessionTimeoutMs, string protocolType, List<(string Name, byte[] Metadata)> protocols)
    {
        MemberId = memberId;
        GroupInstanceId = groupInstanceId;
        ClientId = clientId;
        ClientHost = clientHost;
        RebalanceTimeoutMs = rebalanceTimeoutMs;
        SessionTimeoutMs = sessionTimeoutMs;
        ProtocolType = protocolType;
        Protocols = protocols;
    }

    public string MemberId { get; }

    /// <summary>group.instance.id of a static member (KIP-345), else null.</summary>
    public string? GroupInstanceId { get; }

    public string ClientId { get; set; }

    public string ClientHost { get; set; }

    public int RebalanceTimeoutMs { get; set; }

    public int SessionTimeoutMs { get; set; }

    public string ProtocolType { get; }

    /// <summary>The protocols the member supports, most preferred first, with its metadata for each.</summary>
    public List<(string Name, byte[] Metadata)> Protocols { get; set; }

    /// <summary>The member's part of the leader's assignment in the current generation.</summary>
    public byte[] Assignment { get; set; } = [];

    /// <summary>A JoinGroup waiting for the join phase to end.</summary>
    public TaskCompletionSource<JoinGroupResponse>? AwaitingJoin { get; set; }

    /// <summary>A SyncGroup waiting for the leader's assignment.</summary>
    public TaskCompletionSource<SyncGroupResponse>? AwaitingSync { get; set; }

    /// <summary>When the member's session ends unless it heartbeats (or has a request in flight).</summary>
    public long SessionDeadlineMs { get; set; }

    /// <summary>
    /// True from a member's first JoinGroup until its join phase completes. A new member cannot heartbeat, so it
    /// has the new-member join timeout (5 minutes, KIP-394) instead of its session timeout.
    /// </summary>
    public bool IsNew { get; set; }

    public bool IsStatic => GroupInstanceId is not null;

    public bool IsAwaitingJoin => AwaitingJoin is not null;

    public bool IsAwaitingSync => AwaitingSync is not null;

    /// <summary>The metadata sent for <paramref name="protocol"/>, or empty.</summary>
    public byte[] MetadataFor(string? protocol)
    {
        foreach (var (name, metadata) in Protocols)
        {
            if (name == protocol)
            {
                return metadata;
            }
        }

        return [];
    }

    /// <summary>True when <paramref name="protocols"/> is what the member sent last time (same names, order and metadata).</summary>
    public bool Matches(List<(string Name, byte[] Metadata)> protocols)
    {
        if (protocols.Count != Protocols.Count)
        {
            return false;
        }

        for (var i = 0; i < protocols.Count; i++)
        {
            if (protocols[i].Name != Protocols[i].Name || !protocols[i].Metadata.AsSpan().SequenceEqual(Protocols[i].Metadata))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The member's first choice among <paramref name="candidates"/>.</summary>
    public string Vote(HashSet<string> candidates)
    {
        foreach (var (name, _) in Protocols)
        {
            if (candidates.Contains(name))
            {
                return name;
            }
        }

        throw new InvalidOperationException($"Member {MemberId} supports none of the candidate protocols.");
    }
}
