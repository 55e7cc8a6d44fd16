namespace Levee.Broker.Security;

/// <summary>Kafka's security protocols, with the ids BrokerRegistration and the metadata log carry.</summary>
public enum SecurityProtocol : short
{
    /// <summary>No encryption, no authentication.</summary>
    Plaintext = 0,

    /// <summary>TLS.</summary>
    Ssl = 1,

    /// <summary>SASL over a plain connection.</summary>
    SaslPlaintext = 2,

    /// <summary>SASL over TLS.</summary>
    SaslSsl = 3,
}
