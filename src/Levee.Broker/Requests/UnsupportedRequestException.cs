namespace Levee.Broker.Requests;

/// <summary>
/// A request for an API or version this broker does not serve. Kafka closes the connection in that
/// case (ApiVersions aside, which answers in version 0 so the client can downgrade).
/// </summary>
public sealed class UnsupportedRequestException : Exception
{
    /// <summary>Creates the exception.</summary>
    public UnsupportedRequestException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public UnsupportedRequestException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public UnsupportedRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
