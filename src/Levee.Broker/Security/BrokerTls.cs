using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DotNext.Net.Security;
using Levee.Broker.Network;
using Microsoft.Extensions.Logging;

namespace Levee.Broker.Security;

/// <summary>
/// The broker's TLS material and policy, from Kafka's settings: its key and certificate chain
/// (<c>ssl.keystore.location</c>, PEM, read again when the file changes), the CAs peers must chain to
/// (<c>ssl.truststore.location</c>, PEM, else the system's), <c>ssl.client.auth</c> and
/// <c>ssl.principal.mapping.rules</c>. TLS 1.2 and 1.3 only. It serves TLS listeners and makes the TLS client side of
/// broker-to-broker connections (mutual: the broker presents its own certificate).
/// </summary>
public sealed partial class BrokerTls
{
    /// <summary>The protocol versions Levee speaks: TLS 1.2 and later.</summary>
    private const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    private readonly ReloadingPemFile<SslStreamCertificateContext> _keystore;
    private readonly ReloadingPemFile<X509Certificate2Collection>? _truststore;
    private readonly SslClientAuth _clientAuth;
    private readonly SslPrincipalMapper _mapper;
    private readonly bool _verifyHostName;
    private readonly ILogger _logger;

    /// <summary>Reads the keystore and truststore; a listener that needs them has been checked to name a keystore.</summary>
    /// <exception cref="BrokerConfigurationException">A PEM file cannot be read.</exception>
    public BrokerTls(BrokerOptions options, ILogger<BrokerTls> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _logger = logger;
        _clientAuth = options.SslClientAuth;
        _verifyHostName = options.SslEndpointIdentificationAlgorithm.Length > 0;
        _mapper = SslPrincipalMapper.Parse(options.SslPrincipalMappingRules);
        var keyPassword = options.SslKeyPassword;
        var keystore = options.SslKeystoreLocation ?? throw new BrokerConfigurationException("A TLS listener (or quorum.security.protocol=SSL) needs ssl.keystore.location: a PEM file holding the broker's private key and certificate chain.");
        _keystore = Open("ssl.keystore.location", keystore, path => LoadKeystore(path, keyPassword));
        _truststore = options.SslTruststoreLocation is { } trust ? Open("ssl.truststore.location", trust, LoadTruststore) : null;
    }

    /// <summary>Checks the TLS settings that need no file, whether or not a listener uses TLS.</summary>
    /// <exception cref="BrokerConfigurationException">A TLS setting is malformed.</exception>
    public static void Validate(BrokerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (key, type) in new[] { ("ssl.keystore.type", options.SslKeystoreType), ("ssl.truststore.type", options.SslTruststoreType) })
        {
            if (!type.Equals("PEM", StringComparison.OrdinalIgnoreCase))
            {
                throw new BrokerConfigurationException($"Setting '{key}' is '{type}': Levee reads PEM files only (ssl.keystore.type=PEM, ssl.truststore.type=PEM).");
            }
        }

        if (options.SslEndpointIdentificationAlgorithm is not ("" or "https" or "HTTPS"))
        {
            throw new BrokerConfigurationException($"Setting 'ssl.endpoint.identification.algorithm' must be https or empty, got '{options.SslEndpointIdentificationAlgorithm}'.");
        }

        SslPrincipalMapper.Parse(options.SslPrincipalMappingRules);
    }

    /// <summary>
    /// The server side of one TLS handshake on <paramref name="listener"/>: the keystore's current certificate and
    /// chain, a client certificate asked for per ssl.client.auth and checked against the truststore. A refused
    /// certificate's reason is passed to <paramref name="refused"/>, for the connection's log line.
    /// </summary>
    /// <remarks>
    /// A SASL_SSL listener asks for no client certificate whatever ssl.client.auth says, as in Kafka (its clients
    /// authenticate with SASL; KIP-684 leaves the broker-wide ssl.client.auth ignored there, and Levee has no
    /// listener-prefixed override).
    /// </remarks>
    public SslServerAuthenticationOptions ServerOptions(KafkaListener listener, Action<string> refused)
    {
        ArgumentNullException.ThrowIfNull(listener);
        var clientAuth = listener.RequiresSasl ? SslClientAuth.None : _clientAuth;
        return new()
        {
            ServerCertificateContext = _keystore.Current,
            EnabledSslProtocols = Protocols,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ClientCertificateRequired = clientAuth != SslClientAuth.None,
            RemoteCertificateValidationCallback = clientAuth == SslClientAuth.None ? null : (_, certificate, chain, _) =>
            {
                if (certificate is null)
                {
                    if (clientAuth == SslClientAuth.Required)
                    {
                        refused("no client certificate (ssl.client.auth=required)");
                        return false;
                    }

                    return true;
                }

                return Verify(certificate, chain, refused);
            },

            // Not HTTP: no ALPN protocol is offered.
            ApplicationProtocols = [],
        };
    }

    /// <summary>
    /// The client side of a TLS connection to another broker at <paramref name="host"/>: this broker's certificate as
    /// client certificate, the other's checked against the truststore and, unless ssl.endpoint.identification.algorithm
    /// is empty, against <paramref name="host"/>.
    /// </summary>
    public SslClientAuthenticationOptions ClientOptions(string host) => new()
    {
        TargetHost = host,
        ClientCertificateContext = _keystore.Current,
        EnabledSslProtocols = Protocols,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
        {
            if (certificate is null || (_verifyHostName && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0))
            {
                LogBrokerCertificateRefused(host, certificate is null ? "no certificate" : "the certificate does not name the host (ssl.endpoint.identification.algorithm=https)");
                return false;
            }

            return Verify(certificate, chain, reason => LogBrokerCertificateRefused(host, reason));
        },
    };

    /// <summary>
    /// Mutual TLS for the metadata quorum's Raft transport (quorum.security.protocol=SSL): each voter serves this
    /// broker's current certificate and takes only a peer presenting one that chains to the truststore's CAs; as a
    /// client it presents the same certificate and checks the voter's as <see cref="ClientOptions"/> does.
    /// </summary>
    public SslOptions QuorumTransport() => new QuorumTls(this);

    /// <summary>
    /// The principal of a TLS connection: <c>User:</c> and the name <c>ssl.principal.mapping.rules</c> make of the client
    /// certificate's subject, <c>User:ANONYMOUS</c> without a certificate, or null when no rule matches the subject
    /// (the connection is refused, as in Kafka).
    /// </summary>
    public KafkaPrincipal? PrincipalOf(X509Certificate2? clientCertificate)
    {
        if (clientCertificate is null)
        {
            return KafkaPrincipal.Anonymous;
        }

        return _mapper.Map(SslPrincipalMapper.Rfc2253(clientCertificate.SubjectName)) is { } name ? new KafkaPrincipal("User", name) : null;
    }

    /// <summary>Whether <paramref name="certificate"/>, with the intermediates the peer sent, chains to a trusted CA.</summary>
    private bool Verify(X509Certificate certificate, X509Chain? sent, Action<string> refused)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (_truststore is not null)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(_truststore.Current);
        }

        if (sent is not null)
        {
            foreach (var element in sent.ChainElements.Skip(1))
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (chain.Build(leaf))
        {
            return true;
        }

        refused($"certificate '{leaf.Subject}' is not trusted: {string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))}");
        return false;
    }

    /// <summary>The quorum's TLS options: a client side made per connection, so a rotated certificate is presented at once.</summary>
    private sealed class QuorumTls : SslOptions
    {
        private readonly BrokerTls _tls;

        public QuorumTls(BrokerTls tls)
        {
            _tls = tls;
            ServerOptions.ServerCertificateSelectionCallback = (_, _) => tls._keystore.Current.TargetCertificate;
            ServerOptions.EnabledSslProtocols = Protocols;
            ServerOptions.CertificateRevocationCheckMode = X509RevocationMode.NoCheck;
            ServerOptions.ClientCertificateRequired = true;
            ServerOptions.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                void Refused(string reason) => tls.LogQuorumPeerRefused(reason);
                if (certificate is null)
                {
                    Refused("no certificate (the quorum is mutual TLS)");
                    return false;
                }

                return tls.Verify(certificate, chain, Refused);
            };
        }

        public override SslClientAuthenticationOptions CreateClientOptions(EndPoint serverAddress) => _tls.ClientOptions(serverAddress switch
        {
            DnsEndPoint dns => dns.Host,
            IPEndPoint ip => ip.Address.ToString(),
            _ => serverAddress.ToString() ?? "",
        });
    }

    private ReloadingPemFile<T> Open<T>(string key, string path, Func<string, T> load)
        where T : class
    {
        try
        {
            return new ReloadingPemFile<T>(path, load, (file, ex) => LogReloadFailed(file, ex.Message));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new BrokerConfigurationException($"Setting '{key}': '{path}' cannot be read as PEM: {ex.Message}", ex);
        }
    }

    /// <summary>Kafka's PEM keystore: the private key (encrypted with ssl.key.password, or not) and the chain, leaf first, in one file.</summary>
    private static SslStreamCertificateContext LoadKeystore(string path, SecretText? password)
    {
        var leaf = password is null ? X509Certificate2.CreateFromPemFile(path) : X509Certificate2.CreateFromEncryptedPemFile(path, password.Value);
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(path);
        var chain = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (certificate.Thumbprint != leaf.Thumbprint)
            {
                chain.Add(certificate);
            }
        }

        // Offline: the chain is what the file holds; nothing is fetched from the network.
        return SslStreamCertificateContext.Create(leaf, chain, offline: true);
    }

    private static X509Certificate2Collection LoadTruststore(string path)
    {
        var trusted = new X509Certificate2Collection();
        trusted.ImportFromPemFile(path);
        return trusted.Count > 0 ? trusted : throw new CryptographicException("it holds no certificate");
    }

    [LoggerMessage(EventName = "ReloadFailed", Level = LogLevel.Warning, Message = "TLS file {Path} changed but cannot be read ({Problem}); still using what it held before")]
    private partial void LogReloadFailed(string path, string problem);

    [LoggerMessage(EventName = "BrokerCertificateRefused", Level = LogLevel.Warning, Message = "Refused the TLS certificate of broker {Host}: {Reason}")]
    private partial void LogBrokerCertificateRefused(string host, string reason);

    [LoggerMessage(EventName = "QuorumPeerRefused", Level = LogLevel.Warning, Message = "Refused a metadata quorum peer's TLS connection: {Reason}")]
    private partial void LogQuorumPeerRefused(string reason);
}
