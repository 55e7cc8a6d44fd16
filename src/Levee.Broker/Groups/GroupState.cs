namespace Levee.Broker.Groups;

/// <summary>The states of a classic group, with Kafka's names (DescribeGroups and ListGroups report them).</summary>
public enum GroupState
{
    /// <summary>No members; the group may still hold committed offsets.</summary>
    Empty,

    /// <summary>A rebalance started: members are (re)joining.</summary>
    PreparingRebalance,

    /// <summary>Every member joined; waiting for the leader's assignment in SyncGroup.</summary>
    CompletingRebalance,

    /// <summary>Assignment handed out; members heartbeat.</summary>
    Stable,

    /// <summary>Removed (deleted, or expired with no offsets left).</summary>
    Dead,
}
