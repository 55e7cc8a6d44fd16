namespace Levee.Broker;

/// <summary>A setting that is unknown, malformed or inconsistent with another; the message names it. The broker does not start.</summary>
public sealed class BrokerConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BrokerConfigurationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public BrokerConfigurationException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public BrokerConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
