using System.Collections.Immutable;

namespace Levee.Cluster.Metadata;

/// <summary>A broker as the cluster knows it: its registration and whether it is fenced.</summary>
/// <param name="Id">The broker id.</param>
/// <param name="IncarnationId">Unique id of the broker process run that registered.</param>
/// <param name="Epoch">The broker epoch of the registration.</param>
/// <param name="EndPoints">Advertised listeners.</param>
/// <param name="Rack">The rack, or null.</param>
/// <param name="Fenced">A fenced broker leads nothing and is in no ISR.</param>
/// <param name="InControlledShutdown">The broker is moving its leadership away before stopping.</param>
public sealed record BrokerRegistration(
    int Id,
    Guid IncarnationId,
    long Epoch,
    ImmutableArray<BrokerEndpoint> EndPoints,
    string? Rack,
    bool Fenced,
    bool InControlledShutdown)
{
    /// <summary>The advertised endpoint of the listener named <paramref name="listenerName"/>, or null when the broker has none.</summary>
    public BrokerEndpoint? EndPoint(string listenerName)
    {
        foreach (var endpoint in EndPoints)
        {
            if (string.Equals(endpoint.Name, listenerName, StringComparison.Ordinal))
            {
                return endpoint;
            }
        }

        return null;
    }
}

/// <summary>One partition: replicas, ISR, leader and epochs.</summary>
/// <param name="TopicId">The topic id.</param>
/// <param name="PartitionId">The partition index.</param>
/// <param name="Replicas">Replicas in preferred order.</param>
/// <param name="Isr">In-sync replicas.</param>
/// <param name="Leader">The leader, or -1 if the partition is offline.</param>
/// <param name="LeaderEpoch">Bumped on every leader change.</param>
/// <param name="PartitionEpoch">Bumped on every change.</param>
public sealed record PartitionImage(
    Guid TopicId,
    int PartitionId,
    ImmutableArray<int> Replicas,
    ImmutableArray<int> Isr,
    int Leader,
    int LeaderEpoch,
    int PartitionEpoch)
{
    /// <summary>
    /// Replicas a reassignment in progress adds (KIP-455): in <see cref="Replicas"/>, catching up; empty when none is
    /// in progress.
    /// </summary>
    public ImmutableArray<int> AddingReplicas { get; init; } = [];

    /// <summary>Replicas a reassignment in progress removes once every target replica is in the ISR (KIP-455).</summary>
    public ImmutableArray<int> RemovingReplicas { get; init; } = [];

    /// <summary>Whether a reassignment is in progress.</summary>
    public bool IsReassigning => !AddingReplicas.IsEmpty || !RemovingReplicas.IsEmpty;
}

/// <summary>A topic and its partitions by index.</summary>
/// <param name="Name">The topic name.</param>
/// <param name="Id">The topic id.</param>
/// <param name="Partitions">Partitions by index.</param>
public sealed record TopicImage(string Name, Guid Id, ImmutableSortedDictionary<int, PartitionImage> Partitions);

/// <summary>A resource configs apply to: a topic or a broker.</summary>
/// <param name="Type">Topic or broker.</param>
/// <param name="Name">The topic name, or the broker id ("" for the cluster-wide default).</param>
public readonly record struct ConfigResource(ConfigResourceType Type, string Name) : IComparable<ConfigResource>
{
    /// <inheritdoc/>
    public int CompareTo(ConfigResource other)
    {
        var byType = Type.CompareTo(other.Type);
        return byType != 0 ? byType : string.CompareOrdinal(Name, other.Name);
    }

    /// <summary>Orders by type, then name (ordinal).</summary>
    public static bool operator <(ConfigResource left, ConfigResource right) => left.CompareTo(right) < 0;

    /// <summary>Orders by type, then name (ordinal).</summary>
    public static bool operator >(ConfigResource left, ConfigResource right) => left.CompareTo(right) > 0;

    /// <summary>Orders by type, then name (ordinal).</summary>
    public static bool operator <=(ConfigResource left, ConfigResource right) => left.CompareTo(right) <= 0;

    /// <summary>Orders by type, then name (ordinal).</summary>
    public static bool operator >=(ConfigResource left, ConfigResource right) => left.CompareTo(right) >= 0;
}

/// <summary>
/// A record that cannot apply to the current image: a partition of an unknown topic, a leader
/// outside the replicas, a stale broker epoch. The quorum leader checks every batch against its
/// image before appending it, so a committed batch never throws this.
/// </summary>
public sealed class InvalidMetadataRecordException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InvalidMetadataRecordException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public InvalidMetadataRecordException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public InvalidMetadataRecordException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Where a SCRAM credential is kept: a user and a mechanism (ordered by name, then mechanism).</summary>
/// <param name="User">The user name.</param>
/// <param name="Mechanism">The mechanism.</param>
public readonly record struct ScramCredentialKey(string User, ScramMechanism Mechanism) : IComparable<ScramCredentialKey>
{
    /// <inheritdoc/>
    public int CompareTo(ScramCredentialKey other)
    {
        var byUser = string.CompareOrdinal(User, other.User);
        return byUser != 0 ? byUser : Mechanism.CompareTo(other.Mechanism);
    }

    /// <summary>Orders by user (ordinal), then mechanism.</summary>
    public static bool operator <(ScramCredentialKey left, ScramCredentialKey right) => left.CompareTo(right) < 0;

    /// <summary>Orders by user (ordinal), then mechanism.</summary>
    public static bool operator >(ScramCredentialKey left, ScramCredentialKey right) => left.CompareTo(right) > 0;

    /// <summary>Orders by user (ordinal), then mechanism.</summary>
    public static bool operator <=(ScramCredentialKey left, ScramCredentialKey right) => left.CompareTo(right) <= 0;

    /// <summary>Orders by user (ordinal), then mechanism.</summary>
    public static bool operator >=(ScramCredentialKey left, ScramCredentialKey right) => left.CompareTo(right) >= 0;
}
