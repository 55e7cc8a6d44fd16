namespace Levee.Cluster.Quorum;

/// <summary>
/// A metadata change was sent to a node that is not the quorum leader (the controller). Kafka
/// answers this case with NOT_CONTROLLER; the caller should retry on <see cref="LeaderId"/>.
/// </summary>
public sealed class NotControllerException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NotControllerException()
        : this(nodeId: -1, leaderId: null)
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public NotControllerException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public NotControllerException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for node <paramref name="nodeId"/>, naming the leader it knows.</summary>
    public NotControllerException(int nodeId, int? leaderId)
        : base(leaderId is { } leader
            ? $"Node {nodeId} is not the metadata quorum leader; the leader is node {leader}."
            : $"Node {nodeId} is not the metadata quorum leader; no leader is known.")
    {
        LeaderId = leaderId;
    }

    /// <summary>The leader this node knows of, or null.</summary>
    public int? LeaderId { get; }
}

/// <summary>
/// The metadata quorum has no majority (or no leader was elected in time): metadata changes are
/// refused. Reads of the last committed image keep working. A <see cref="TimeoutException"/>, so
/// callers that map timeouts to Kafka's REQUEST_TIMED_OUT do the right thing.
/// </summary>
public sealed class QuorumUnavailableException : TimeoutException
{
    /// <summary>Creates the exception.</summary>
    public QuorumUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public QuorumUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public QuorumUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
